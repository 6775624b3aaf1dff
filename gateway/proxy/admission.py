"""What an admission gate (quotas: gateway/quota/gate.py) offers the pipeline.

Apart from gateway/proxy/pipeline.py, which setup.py compiles: a Protocol compiled by mypyc
would share typing.Protocol's ABC state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from gateway.proxy.exchange import Headers
from gateway.usage.pricing import Cost, Usage

if TYPE_CHECKING:
    from gateway.proxy.router import Routed


class Ticket(Protocol):
    """What an admission gate granted one request; settled once the request is accounted."""

    headers: Headers  # sent on the answer, whatever its status

    def settle(self, status: int, usage: Usage, cost: Cost | None) -> None: ...


class Gate(Protocol):
    """An admission check before routing (quotas): a ticket, or a ProxyError (429, 503)."""

    async def admit(self, routed: Routed) -> Ticket: ...
