"""Lints on where a catalog sends requests and what it adds to them: risky upstream URLs
(cloud metadata, numeric IP spellings, plain http to the internet, the proxy's own host)
and headers that would change the framing of the request the proxy sends.

A catalog comes in by pull request: a provider pointed at 169.254.169.254 or at a port
on the proxy's own machine turns the proxy into a way in. Such URLs are warnings (errors
under `validate --strict`); an address on the proxy's own machine or a private network is
a notice, which `--strict` does not fail: fake upstreams in tests and sidecars live there,
and `modelyard diff` still shows the change to reviewers.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from gateway.catalog.document import Document, Path
from gateway.catalog.link import Catalog, diagnostic
from gateway.diagnostics import Diagnostic

#: Headers that say how the request is framed or routed; the HTTP client sets them.
FRAMING_HEADERS = frozenset(
    {
        "host",
        "transfer-encoding",
        "content-length",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "proxy-connection",
        "expect",
    }
)
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.I)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LOCAL_NAMES = ("localhost", "localhost.", "ip6-localhost")


def _address(host: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address | None, bool]:
    """The IP address `host` names, if it is one, and whether it is spelt unusually
    (decimal, hex, octal or shortened IPv4, as used to slip past URL filters)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            return address.ipv4_mapped, True
        return address, False
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host.rstrip("."))), True
        except OSError:
            return None, True
    return None, False


def _url_findings(url: str) -> Iterator[tuple[str, str, str]]:
    """(code, message, hint) for each risk of one base_url."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    address, unusual = _address(host)
    shown = f"{host} ({address})" if unusual and address else host
    if unusual:
        yield (
            "MY417",
            f"base_url host {host} is an IP address in an unusual spelling"
            + (f" for {address}" if address else ""),
            "write the host name, or the address in dotted decimal form",
        )
    if address is not None and (
        address.is_link_local or address.is_unspecified or address.is_multicast
    ):
        yield (
            "MY417",
            f"base_url points at {shown}, a link-local, unspecified or multicast "
            "address (169.254.169.254 is the cloud metadata service)",
            "point the provider at the upstream API's public or private host name",
        )
    elif host in _LOCAL_NAMES or (address is not None and address.is_loopback):
        yield (
            "MY419",
            f"base_url points at {shown}, the proxy's own machine",
            "fine for a sidecar or a test upstream; make sure nothing else listens there",
        )
    elif address is not None and address.is_private:
        yield (
            "MY419",
            f"base_url points at {shown}, a private network address",
            "fine for an internal gateway; make sure it is the one you mean",
        )
    elif parts.scheme == "http":
        yield (
            "MY418",
            f"base_url sends requests and the provider's key over plain http to {host}",
            "use https://",
        )


def risky_base_url(cat: Catalog) -> Iterable[Diagnostic]:
    """MY417 / MY418 / MY419: a provider's base_url is a risky place to send requests."""
    for provider in cat.providers.values():
        url = provider.data.get("base_url")
        if isinstance(url, str):
            for code, message, hint in _url_findings(url):
                yield diagnostic(
                    provider, ("base_url",), code, f"provider {provider.name!r}: {message}", hint
                )


def _headers(doc: Document) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    if doc.kind == "Provider":
        yield ("headers",), doc.data.get("headers") or {}
    options = doc.data.get("options") if doc.kind == "Channel" else None
    if isinstance(options, Mapping) and isinstance(options.get("headers"), Mapping):
        yield ("options", "headers"), options["headers"]


def framing_headers(cat: Catalog) -> Iterable[Diagnostic]:
    """MY420: a provider's or channel's extra header is one the HTTP client must set
    (Host, Content-Length, Transfer-Encoding, Connection...) or holds a line break."""
    for doc in (*cat.providers.values(), *cat.channels.values()):
        for path, headers in _headers(doc):
            for name, value in headers.items():
                if str(name).lower() in FRAMING_HEADERS:
                    yield diagnostic(
                        doc,
                        (*path, name),
                        "MY420",
                        f"{doc.kind} {doc.name!r}: header {name} decides how the "
                        "request is framed or routed and is set by the proxy",
                        f"remove {name} from the headers",
                    )
                elif isinstance(value, str) and _CONTROL.search(value):
                    yield diagnostic(
                        doc,
                        (*path, name),
                        "MY420",
                        f"{doc.kind} {doc.name!r}: the value of header {name} "
                        "holds a line break or another control character",
                        "write the value on one line",
                    )


RULES = (risky_base_url, framing_headers)
