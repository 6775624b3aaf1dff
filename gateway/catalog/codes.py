"""The one table of diagnostic codes: stable identifiers, severity, and what each means.

Ranges: MY1xx loading files, MY2xx schema, MY3xx references and names, MY4xx semantic
lints, MY5xx secrets, MY6xx the compiled snapshot. Codes are never reused; a retired code stays listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gateway.diagnostics import ERROR, NOTICE, WARNING

#: code -> (default severity, one-line title shown in docs/diagnostics.md)
CODES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        # --- MY1xx: loading files ---
        "MY100": (ERROR, "the catalog or one of its files cannot be read"),
        "MY101": (ERROR, "a file is not valid UTF-8 or holds a character YAML forbids"),
        "MY102": (ERROR, "YAML syntax error"),
        "MY103": (ERROR, "a mapping key appears twice"),
        "MY104": (ERROR, "a document is not a mapping"),
        "MY105": (ERROR, "a document lacks a string kind or name"),
        "MY106": (ERROR, "a YAML tag other than the standard scalar and collection tags"),
        "MY107": (ERROR, "a file is over the size limit"),
        "MY108": (ERROR, "a symlink leads outside the catalog root or nowhere"),
        "MY109": (ERROR, "collections nest too deeply"),
        "MY110": (ERROR, "a mapping key is not a scalar, or `<<` merges something not a mapping"),
        "MY111": (ERROR, "aliases expand too far or refer to themselves"),
        "MY112": (ERROR, "aliases repeat too many characters of text"),
        # --- MY2xx: schema ---
        "MY201": (ERROR, "unknown document kind"),
        "MY202": (ERROR, "unknown field"),
        "MY203": (ERROR, "missing required field"),
        "MY204": (ERROR, "a value has the wrong type"),
        "MY205": (ERROR, "a value is not one of the allowed values"),
        "MY206": (ERROR, "a number is out of range"),
        "MY207": (ERROR, "a text or key does not have the expected form"),
        "MY208": (ERROR, "a list or mapping has too few, too many or repeated entries"),
        "MY209": (ERROR, "a price's amounts do not fit its unit or model type"),
        "MY210": (ERROR, "a value does not have an allowed shape"),
        # --- MY3xx: references and names ---
        "MY301": (ERROR, "a name is used twice within one kind"),
        "MY302": (ERROR, "more than one Settings document"),
        "MY303": (ERROR, "a model alias equals a model name or another alias"),
        "MY304": (ERROR, "reference to an unknown model"),
        "MY305": (ERROR, "reference to an unknown provider"),
        "MY306": (ERROR, "reference to an unknown capability"),
        "MY307": (ERROR, "reference to an unknown native tool"),
        "MY308": (ERROR, "reference to an unknown price book"),
        # --- MY4xx: semantic lints ---
        "MY401": (ERROR, "a capability does not apply to the model's type"),
        "MY402": (ERROR, "a native tool does not apply to the model's type"),
        "MY403": (ERROR, "the provider's protocol cannot serve the model's type"),
        "MY404": (
            WARNING,
            "an allowed native tool has no spelling for a protocol of the model's channels",
        ),
        "MY405": (ERROR, "an active public or internal model has no active channel"),
        "MY406": (ERROR, "a private model or an owned channel lacks a person or org owner"),
        "MY407": (ERROR, "a protected model is not owned by an org"),
        "MY408": (ERROR, "every active channel of a priority class has weight 0"),
        "MY409": (ERROR, "an inline price does not fit the model's type"),
        "MY410": (ERROR, "the price book has no entry for the channel's upstream model"),
        "MY411": (ERROR, "the price book entry is for another model type"),
        "MY412": (WARNING, "a channel of a public model has no price"),
        "MY413": (WARNING, "a channel takes its price from another provider's price book"),
        "MY414": (
            WARNING,
            "a protocol's optional dependency is not installed: its channels are unavailable",
        ),
        "MY415": (ERROR, "a provider lacks the base_url its protocol needs"),
        "MY416": (WARNING, "an image model that edits images has a channel whose protocol cannot"),
        "MY417": (
            WARNING,
            "a base_url points at a link-local, unspecified or multicast address, or spells an IP address unusually",
        ),
        "MY418": (WARNING, "a base_url sends requests over plain http to a public host"),
        "MY419": (NOTICE, "a base_url points at the proxy's own machine or a private network"),
        "MY420": (
            ERROR,
            "an extra header is a framing header (Host, Content-Length, Transfer-Encoding, Connection...) or holds a line break",
        ),
        "MY421": (WARNING, "an Org's quota limits nobody: no consumer belongs to it"),
        "MY422": (WARNING, "a per-model quota limit is not below the same limit for all models"),
        "MY423": (WARNING, "a spend budget covers a model with an unpriced active channel"),
        # --- MY5xx: secrets ---
        "MY501": (ERROR, "an auth secret is not a ${ENV_VAR} reference"),
        "MY502": (ERROR, "a string looks like a provider API key"),
        "MY503": (ERROR, "an ${ENV} reference is outside Settings.env_prefixes"),
        "MY504": (ERROR, "a consumer key is not a lowercase sha256 hex digest"),
        # --- MY6xx: the compiled snapshot ---
        "MY601": (ERROR, "the compiled snapshot is over the size limit"),
    }
)

__all__ = ["CODES", "ERROR", "NOTICE", "WARNING"]
