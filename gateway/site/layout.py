"""The frame every page shares: head, skip link, navigation, footer; and escaping helpers."""

from __future__ import annotations

from functools import lru_cache
from html import escape

PAGES = (("index.html", "Models"), ("prices.html", "Prices"), ("capabilities.html", "Capabilities"))

CURRENT = ' aria-current="page"'


def e(value: object) -> str:
    """Text or attribute value, escaped for HTML."""
    return _escaped("" if value is None else str(value))


@lru_cache(maxsize=65536)  # names, types and providers repeat on thousands of pages
def _escaped(text: str) -> str:
    return escape(text, quote=True)


def page(
    title: str, body: str, *, root: str, current: str | None, digest: str, scripts: bool = True
) -> str:
    """A whole document; `root` is the relative path to the site root ("" or "../")."""
    links = "".join(
        f'<li><a href="{root}{href}"{CURRENT if href == current else ""}>{label}</a></li>'
        for href, label in PAGES
    )
    script = f'<script src="{root}assets/site.js" defer></script>' if scripts else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · modelyard catalog</title>"
        f'<link rel="stylesheet" href="{root}assets/site.css">{script}</head>'
        '<body><a class="skip" href="#main">Skip to content</a>'
        f'<header><nav aria-label="Site"><span class="brand">modelyard catalog</span>'
        f"<ul>{links}</ul></nav></header>"
        f'<main id="main" tabindex="-1">{body}</main>'
        f"<footer>Generated from snapshot <code>{e(digest[:12])}</code> by "
        "<code>modelyard site</code>.</footer></body></html>\n"
    )


def yes_no(flag: bool) -> str:
    """A matrix cell readable by eye and by screen readers alike."""
    return (
        '<td class="yes"><span aria-hidden="true">✓</span><span class="sr">yes</span></td>'
        if flag
        else '<td class="no"><span aria-hidden="true">·</span><span class="sr">no</span></td>'
    )
