"""The `thinking` channel option and the request's reasoning settings, reduced to one switch."""

from __future__ import annotations

from gateway.proxy.adapters.base import Call

#: reasoning_effort values that ask for no thinking at all.
OFF_EFFORTS = frozenset({"none", "minimal"})

#: Token budgets for upstreams that take a budget rather than an effort level.
BUDGETS = {"low": 1024, "medium": 8192, "high": 24576}


def wanted(call: Call) -> bool | None:
    """True/False when thinking must be switched on/off upstream; None leaves the default.

    The channel's `thinking: enabled|disabled` wins; `auto` (the default) follows the
    request: any `reasoning_effort` switches thinking on, except none/minimal.
    """
    mode = call.channel.options.get("thinking", "auto")
    if mode in ("enabled", "disabled"):
        return mode == "enabled"
    effort = call.body.get("reasoning_effort")
    if effort is None:
        return None
    return effort not in OFF_EFFORTS


def budget(call: Call) -> int | None:
    """A thinking budget in tokens for the request's reasoning_effort, when it names one."""
    return BUDGETS.get(call.body.get("reasoning_effort") or "")
