"""The comparison pages: prices per channel on common scales, and models × capabilities."""

from __future__ import annotations

from gateway.site.layout import e, page, yes_no
from gateway.site.prices import IMAGES, MINUTES, SCALE_TITLES, SCALES, TOKENS, money
from gateway.site.view import SiteView

#: Amount columns per scale (images are listed per size and quality instead).
COLUMNS = {
    TOKENS: ("input", "cached_input", "output"),
    MINUTES: ("audio", "video"),
    "characters": ("characters",),
}
FILTER_BOX = (
    '<div class="controls"><div class="field wide"><label for="table-search">'
    'Filter rows</label><input id="table-search" type="search" '
    'data-table-filter autocomplete="off" placeholder="model, channel, provider">'
    "</div></div>"
)


def render_prices(site: SiteView) -> str:
    sections = []
    for scale in SCALES:
        rows = []
        for view in site.models:
            for c in view.channels:
                if c.price is None or c.price.scale != scale:
                    continue
                head = (
                    f'<tr data-search="{e((view.model.name + " " + c.channel.name + " " + c.channel.provider).casefold())}">'
                    f'<th scope="row"><a href="models/{e(view.slug)}.html">{e(view.model.name)}</a></th>'
                    f"<td><code>{e(c.channel.name)}</code></td><td>{e(c.channel.provider)}</td>"
                    f"<td>{e(c.price.currency)}</td>"
                )
                if scale == IMAGES:
                    cells = ", ".join(f"{e(s)} {e(q)}: {money(p)}" for s, q, p in c.price.images)
                    rows.append(f"{head}<td>{cells}</td></tr>")
                else:
                    rows.append(
                        head
                        + "".join(
                            f'<td class="num">{money(c.price.amounts.get(k))}</td>'
                            for k in COLUMNS[scale]
                        )
                        + "</tr>"
                    )
        if not rows:
            continue
        amount_heads = (
            '<th scope="col">Per image, by size and quality</th>'
            if scale == IMAGES
            else "".join(f'<th scope="col">{e(k.replace("_", " "))}</th>' for k in COLUMNS[scale])
        )
        title = SCALE_TITLES[scale]
        sections.append(
            f'<h2 id="{scale}">Prices {title}</h2>'
            f'<table class="prices"><caption class="sr">Prices {title}</caption><thead><tr>'
            '<th scope="col">Model</th><th scope="col">Channel</th><th scope="col">Provider</th>'
            f'<th scope="col">Currency</th>{amount_heads}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
    body = (
        "<h1>Prices</h1><p>Each channel's price, converted to one scale per kind so "
        "channels compare directly: per million tokens, per image, per minute of audio or "
        "video, per million characters.</p>" + FILTER_BOX + "".join(sections)
    )
    return page("Prices", body, root="", current="prices.html", digest=site.snapshot.digest)


def render_capabilities(site: SiteView) -> str:
    columns = [(c, "capability") for c in site.capabilities] + [
        (t, "native tool") for t in site.native_tools
    ]
    heads = "".join(
        f'<th scope="col"><span title="{kind}">{e(name)}</span></th>' for name, kind in columns
    )
    rows = "".join(
        f'<tr data-search="{e(v.model.name.casefold())}"><th scope="row">'
        f'<a href="models/{e(v.slug)}.html">{e(v.model.name)}</a></th><td>{e(v.model.type)}</td>'
        + "".join(
            yes_no(n in (v.model.capabilities if k == "capability" else v.model.native_tools))
            for n, k in columns
        )
        + "</tr>"
        for v in site.models
    )
    body = (
        "<h1>Capabilities</h1><p>Which model has which capability and which native "
        "tools it may use. Native tools are the columns after the capabilities.</p>"
        + FILTER_BOX
        + '<table class="matrix wide"><caption class="sr">Models and capabilities</caption>'
        f'<thead><tr><th scope="col">Model</th><th scope="col">Type</th>{heads}</tr>'
        f"</thead><tbody>{rows}</tbody></table>"
    )
    return page(
        "Capabilities", body, root="", current="capabilities.html", digest=site.snapshot.digest
    )
