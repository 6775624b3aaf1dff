"""One model's page: description, aliases, capability and native tool matrix, properties,
channels with their shares and prices, and who may use it."""

from __future__ import annotations

from gateway.site.layout import e, page, yes_no
from gateway.site.prices import SCALE_TITLES, ScaledPrice, money
from gateway.site.view import ChannelView, ModelView, SiteView, properties_rows


def render_model(site: SiteView, view: ModelView) -> str:
    m = view.model
    facts = [
        ("Name", f"<code>{e(m.name)}</code>"),
        ("Type", e(m.type)),
        ("Vendor", e(m.vendor or "—")),
        ("Status", e(m.status)),
        ("Visibility", e(m.visibility)),
        ("Aliases", ", ".join(f"<code>{e(a)}</code>" for a in m.aliases) or "none"),
        ("Tags", ", ".join(e(t) for t in m.tags) or "none"),
    ]
    if m.docs_url:
        facts.append(
            ("Documentation", f'<a href="{e(m.docs_url)}" rel="noopener">{e(m.docs_url)}</a>')
        )
    body = (
        f'<p class="crumbs"><a href="../index.html">Models</a> / {e(m.name)}</p>'
        f"<h1>{e(m.display_name)}</h1>"
        f'<p class="description">{e(m.description or "No description.")}</p>'
        f'<dl class="facts">{"".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)}</dl>'
        f"{_channels(view)}{_audience(view)}{_matrix(site, view)}{_properties(view)}"
    )
    return page(
        m.display_name, body, root="../", current=None, digest=site.snapshot.digest, scripts=False
    )


def _matrix(site: SiteView, view: ModelView) -> str:
    m = view.model
    caps = [
        c
        for c in site.capabilities
        if m.type in (site.snapshot.capabilities.get(c, {}).get("applies_to") or (m.type,))
    ]
    tools = [
        t
        for t in site.native_tools
        if t not in site.snapshot.native_tools
        or not site.snapshot.native_tools[t].applies_to
        or m.type in site.snapshot.native_tools[t].applies_to
    ]
    rows = "".join(
        f'<tr><th scope="row">{e(c)}</th><td>capability</td>{yes_no(c in m.capabilities)}</tr>'
        for c in caps
    )
    rows += "".join(
        f'<tr><th scope="row">{e(t)}</th><td>native tool</td>{yes_no(t in m.native_tools)}</tr>'
        for t in tools
    )
    if not rows:
        return ""
    return (
        '<h2 id="capabilities">Capabilities and native tools</h2>'
        '<table class="matrix"><thead><tr><th scope="col">Name</th><th scope="col">Kind</th>'
        f'<th scope="col">Supported</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _properties(view: ModelView) -> str:
    rows = properties_rows(view.model.properties)
    if not rows:
        return ""
    cells = "".join(f'<tr><th scope="row">{e(k)}</th><td>{e(v)}</td></tr>' for k, v in rows)
    return f'<h2 id="properties">Properties</h2><table class="props"><tbody>{cells}</tbody></table>'


def price_text(price: ScaledPrice | None) -> str:
    """A channel's price in words on its comparison scale."""
    if price is None:
        return "not priced"
    if price.images:
        shown = ", ".join(f"{e(s)} {e(q)}: {money(p)}" for s, q, p in price.images[:6])
        more = f" (+{len(price.images) - 6} more)" if len(price.images) > 6 else ""
        return f"{shown}{more} {e(price.currency)} {SCALE_TITLES['images']}"
    parts = ", ".join(f"{e(k.replace('_', ' '))} {money(v)}" for k, v in price.amounts.items())
    return f"{parts} {e(price.currency)} {SCALE_TITLES[price.scale]}"


def _share(channel: ChannelView) -> str:
    if channel.excluded:
        return f"0 % ({e(channel.excluded)})"
    if channel.share is None:
        return "owner only"
    if channel.share == 0:
        return "0 % (failover)"
    return f"{channel.share * 100:.1f} %"


def _channels(view: ModelView) -> str:
    if not view.channels:
        return '<h2 id="channels">Channels</h2><p>No channel is published for this model.</p>'
    rows = "".join(
        f'<tr><th scope="row"><code>{e(c.channel.name)}</code></th><td>{e(c.channel.provider)}</td>'
        f"<td>{e(c.channel.protocol)}</td><td>{e(c.group)}</td><td>{c.channel.weight}</td>"
        f'<td class="share">{_share(c)}</td><td>{e(c.channel.status)}</td>'
        f"<td>{e(c.channel.data_destination)}</td><td>{price_text(c.price)}</td></tr>"
        for c in view.channels
    )
    return (
        '<h2 id="channels">Channels</h2>'
        "<p>Share: how often each channel is tried first when every channel is healthy. The "
        "proxy tries the high priority class first, then normal, then low; inside a class, "
        "by weight. Channels at 0 % serve when the ones before them fail.</p>"
        '<table class="channels"><thead><tr><th scope="col">Channel</th>'
        '<th scope="col">Provider</th><th scope="col">Protocol</th>'
        '<th scope="col">Priority class</th><th scope="col">Weight</th>'
        '<th scope="col">Share</th><th scope="col">Status</th>'
        '<th scope="col">Data destination</th><th scope="col">Price</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _audience(view: ModelView) -> str:
    names = ", ".join(f"<code>{e(c)}</code>" for c in view.consumers) or "none"
    return (
        '<h2 id="access">Who may use it</h2>'
        f"<p>{e(view.audience)}.</p><p>Consumers of this catalog that may call it: "
        f"{names}.</p>"
    )
