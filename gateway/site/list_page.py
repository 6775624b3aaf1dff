"""The model list: every published model with instant search, filters and sorting.

The rows are plain HTML (the page reads without scripts); site.js reads their data-*
attributes once and filters and sorts by moving the row elements.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.site.layout import e, page
from gateway.site.prices import SCALE_TITLES, money
from gateway.site.view import ModelView, SiteView, scale_index

#: (id, label) of the list's filters; `filter_values` reads a model's values for each.
FILTERS = (
    ("type", "Type"),
    ("vendor", "Vendor"),
    ("capability", "Capability"),
    ("tool", "Native tool"),
    ("visibility", "Visibility"),
    ("status", "Status"),
    ("protocol", "Protocol"),
    ("destination", "Data destination"),
)


def filter_values(view: ModelView) -> dict[str, tuple[str, ...]]:
    m = view.model
    return {
        "type": (m.type,),
        "vendor": (m.vendor or "",) if m.vendor else (),
        "capability": tuple(sorted(m.capabilities)),
        "tool": tuple(sorted(m.native_tools)),
        "visibility": (m.visibility,),
        "status": (m.status,),
        "protocol": view.protocols,
        "destination": view.destinations,
    }


def search_text(view: ModelView) -> str:
    m = view.model
    parts = (m.name, m.display_name, m.vendor or "", m.description or "", *m.tags, *m.aliases)
    return " ".join(parts).casefold()


def render_list(site: SiteView) -> str:
    values: dict[str, set[str]] = {key: set() for key, _ in FILTERS}
    rows = []
    ordered = sorted(range(len(site.models)), key=lambda i: _price_key(site.models[i], i))
    price_rank = {index: rank for rank, index in enumerate(ordered)}
    for i, view in enumerate(site.models):
        found = filter_values(view)
        for key, vs in found.items():
            values[key].update(vs)
        rows.append(_row(view, i, price_rank[i], found))
    controls = "".join(_select(key, label, values[key]) for key, label in FILTERS)
    count = len(site.models)
    body = (
        "<h1>Models</h1>"
        '<form class="controls" role="search" aria-label="Search and filter models" '
        'onsubmit="return false">'
        '<div class="field wide"><label for="search">Search</label>'
        '<input id="search" type="search" autocomplete="off" '
        'placeholder="name, vendor, description, tag, alias" '
        'aria-describedby="search-help">'
        '<small id="search-help">Every word must match.</small></div>'
        f"{controls}"
        '<div class="field"><label for="sort">Sort by</label><select id="sort">'
        '<option value="order">Display order</option><option value="name">Name</option>'
        '<option value="price">Price</option></select></div>'
        '<div class="field"><button type="reset" id="reset">Clear</button></div></form>'
        f'<p id="count" role="status" aria-live="polite">{count} of {count} models</p>'
        '<table id="models" class="list"><caption class="sr">Models</caption><thead><tr>'
        '<th scope="col">Model</th><th scope="col">Type</th><th scope="col">Vendor</th>'
        '<th scope="col">Status</th><th scope="col">Visibility</th>'
        '<th scope="col">Channels</th><th scope="col">Price</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        '<p><button type="button" id="more" hidden>Show more</button></p>'
    )
    return page("Models", body, root="", current="index.html", digest=site.snapshot.digest)


def _price_key(view: ModelView, index: int) -> tuple:
    headline = view.headline_price
    return (scale_index(view), headline is None, headline or 0, index)


def _select(key: str, label: str, options: Iterable[str]) -> str:
    items = "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in sorted(options) if v)
    return (
        f'<div class="field"><label for="f-{key}">{label}</label>'
        f'<select id="f-{key}" data-filter="{key}"><option value="">any</option>'
        f"{items}</select></div>"
    )


def _row(view: ModelView, order: int, price_rank: int, found: dict[str, tuple[str, ...]]) -> str:
    m = view.model
    data = "".join(f' data-{key}="{e("|".join(vs))}"' for key, vs in found.items())
    active = sum(v.channel.status == "active" for v in view.channels)
    price = view.price
    price_text = (
        "—"
        if price is None or view.headline_price is None
        else f"{money(view.headline_price, price.currency)} "
        f"<small>{SCALE_TITLES[price.scale]}</small>"
    )
    if m.display_name != m.name:
        shown = f"{e(m.display_name)} <code>{e(m.name)}</code>"
    else:
        shown = f"<code>{e(m.name)}</code>"
    return (
        f'<tr data-search="{e(search_text(view))}" data-name="{e(m.name.casefold())}" '
        f'data-order="{order}" data-price="{price_rank}"{data}>'
        f'<th scope="row"><a href="models/{e(view.slug)}.html">{shown}</a></th>'
        f"<td>{e(m.type)}</td><td>{e(m.vendor or '')}</td><td>{e(m.status)}</td>"
        f"<td>{e(m.visibility)}</td><td>{active}/{len(view.channels)}</td>"
        f"<td>{price_text}</td></tr>"
    )
