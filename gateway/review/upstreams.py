"""Provider changes as a security reviewer reads them: where requests go, with which
credentials, and which environment variables the proxy must now hold.

Widening is security (a new host, a risky URL, a looser or defaulted data destination, a new
secret reference, a framing header); narrowing is not noise in the security section.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from gateway.catalog.snapshot import DATA_DESTINATIONS
from gateway.review.diff import EntityChange, FieldChange
from gateway.review.findings import Finding
from gateway.review.plain import plain_finding

#: Headers that frame the HTTP message: a catalog must never set them for the upstream.
FRAMING_HEADERS = frozenset(
    {
        "host",
        "transfer-encoding",
        "content-length",
        "connection",
        "te",
        "upgrade",
        "trailer",
        "keep-alive",
    }
)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DOTTED_QUAD = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_LOCAL_NAMES = ("localhost", "metadata.google.internal", "metadata")


def _ip(host: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address | None, bool]:
    """The address a host names when it is an IP literal, and whether it was written in a
    non-standard numeric form (decimal, hex, octal, short) that some clients still accept."""
    try:
        return ipaddress.ip_address(host.strip("[]")), False
    except ValueError:
        pass
    if host and not _DOTTED_QUAD.match(host) and re.fullmatch(r"[0-9a-fA-FxX.]+", host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host)), True
        except OSError:
            return None, False
    return None, False


def url_risks(url: str | None) -> list[str]:
    """What makes an upstream URL risky: an internal, loopback or link-local (cloud metadata)
    address, a numeric host in disguise, or plain http to a public host."""
    if not url:
        return []
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    risks = []
    address, disguised = _ip(host)
    if disguised:
        risks.append(f"host `{host}` is an IP address written as a number ({address})")
    if address is not None:
        if address.is_link_local:
            risks.append("link-local address (cloud metadata service)")
        elif address.is_loopback:
            risks.append("loopback address")
        elif address.is_private or address.is_unspecified or address.is_reserved:
            risks.append("private or reserved address")
    elif host in _LOCAL_NAMES or host.endswith(".localhost"):
        risks.append(f"local host name `{host}`")
    internal = bool(risks)
    if parts.scheme == "http" and not internal:
        risks.append("plain http to a public host: requests and credentials unencrypted")
    return risks


def env_references(snapshot: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every `${VAR}` a snapshot's providers refer to -> the providers that do."""
    found: dict[str, list[str]] = {}
    for name, provider in sorted(snapshot.get("providers", {}).items()):
        text = repr([provider.get("auth"), provider.get("headers"), provider.get("base_url")])
        for var in sorted(set(_ENV_REF.findall(text))):
            found.setdefault(var, []).append(name)
    return found


def new_env_findings(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Finding]:
    """One security finding per environment variable the head refers to and the base did not."""
    before = env_references(base)
    return [
        Finding(
            "security",
            "provider",
            ", ".join(users),
            f"new secret reference `${{{var}}}`: must be set before deploy",
            {"env": var, "providers": users},
        )
        for var, users in env_references(head).items()
        if var not in before
    ]


def _host(url: str | None) -> str:
    return (urlsplit(url or "").hostname or "").lower()


def _risk_findings(name: str, url: str | None) -> Iterator[Finding]:
    for risk in url_risks(url):
        yield Finding(
            "security",
            "provider",
            name,
            f"risky base URL `{url}`: {risk}",
            {"field": "base_url", "after": url, "risk": risk},
        )


def _framing(
    name: str, headers: Mapping[str, Any] | None, before: Mapping[str, Any] | None
) -> Iterator[Finding]:
    for header in sorted(headers or {}):
        if header.lower() in FRAMING_HEADERS and header not in (before or {}):
            yield Finding(
                "security",
                "provider",
                name,
                f"header `{header}` frames the HTTP message: sent upstream as given, "
                "it can split or redirect requests",
                {"field": f"headers.{header}"},
            )


def _level(value: str | None) -> int:
    return DATA_DESTINATIONS.get(value or "", 0)


def classify_provider(
    change: EntityChange, defaulted: Mapping[str, list[str]]
) -> Iterator[Finding]:
    name, after = change.name, change.after or {}
    if change.action == "added":
        unwritten = name in defaulted.get("defaulted_destination", ())
        where = f"data destination {after.get('data_destination')}" + (
            " (defaulted, not written: set `data_destination`)" if unwritten else ""
        )
        yield Finding(
            "security",
            "provider",
            name,
            f"provider added: {after.get('protocol')} at `{after.get('base_url')}`, " + where,
            {"defaulted_destination": unwritten},
        )
        yield from _risk_findings(name, after.get("base_url"))
        yield from _framing(name, after.get("headers"), None)
        return
    if change.action == "removed":
        yield Finding("other", "provider", name, "provider removed", {})
        return
    for f in change.fields:
        yield from _provider_field(change, f)


def _provider_field(change: EntityChange, f: FieldChange) -> Iterator[Finding]:
    name, head = change.name, f.path[0]
    if head == "auth" and f.path[1:] == ("type",):
        yield Finding(
            "security",
            "provider",
            name,
            f"auth type changed: {f.before} → {f.after}",
            {"field": f.dotted, "before": f.before, "after": f.after},
        )
    elif head == "auth":
        yield Finding(
            "security",
            "provider",
            name,
            f"{f.dotted}: secret reference changed",
            {"field": f.dotted},
        )
    elif head == "base_url":
        moved = _host(f.before) != _host(f.after)
        yield Finding(
            "security" if moved else "other",
            "provider",
            name,
            f"base URL {'host ' if moved else ''}changed: `{f.before}` → `{f.after}`",
            {"field": f.dotted, "before": f.before, "after": f.after},
        )
        if set(url_risks(f.after)) - set(url_risks(f.before)):
            yield from _risk_findings(name, f.after)
    elif head == "data_destination":
        loosened = _level(f.after) > _level(f.before)
        yield Finding(
            "security" if loosened else "other",
            "provider",
            name,
            f"data destination {'loosened' if loosened else 'tightened'}: {f.before} → {f.after}",
            {"field": f.dotted, "before": f.before, "after": f.after},
        )
    elif (
        head == "headers"
        and len(f.path) == 2
        and f.path[1].lower() in FRAMING_HEADERS
        and f.after is not None
    ):
        yield from _framing(name, {f.path[1]: f.after}, None)
    else:
        yield plain_finding(change, f)
