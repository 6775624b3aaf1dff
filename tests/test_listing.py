"""The model list: display order, channel counts, search and every filter."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.catalog.compile import build
from gateway.catalog.listing import ModelQuery, ModelRow, list_models
from gateway.catalog.snapshot import Snapshot

BASE = Path(__file__).parent / "fixtures" / "catalogs" / "base"


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return Snapshot.from_dict(build(BASE).snapshot)


def names(snapshot: Snapshot, **query: str) -> list[str]:
    return [r.name for r in list_models(snapshot, ModelQuery(**query))]


def test_lists_every_model_in_display_order_with_internal_ones(snapshot):
    assert names(snapshot) == ["gpt-4o", "claude", "embed", "team-model", "titler"]


def test_row_counts_active_and_total_channels_and_keeps_alias_order(snapshot):
    row = list_models(snapshot)[0]
    assert row == ModelRow(
        name="gpt-4o",
        display_name="GPT-4o",
        type="chat",
        status="active",
        vendor="OpenAI",
        visibility="public",
        active_channels=2,
        channels=2,
        aliases=("chat-default", "flagship"),
    )
    assert row.as_dict()["aliases"] == ["chat-default", "flagship"]


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ("GPT", ["gpt-4o"]),  # name, any case
        ("claude", ["claude"]),  # display name
        ("flagship", ["gpt-4o"]),  # alias
        ("anthropic", ["claude"]),  # vendor
        ("embeddings", ["embed"]),  # description
        ("nothing-like-it", []),
    ],
)
def test_search_is_case_insensitive_over_name_display_name_alias_vendor_description(
    snapshot, needle, expected
):
    assert names(snapshot, search=needle) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "inactive"}, ["team-model"]),
        ({"type": "embedding"}, ["embed"]),
        ({"visibility": "internal"}, ["titler"]),
        ({"vendor": "openai"}, ["gpt-4o", "embed"]),
        ({"protocol": "anthropic"}, ["claude"]),
        ({"protocol": "mock"}, ["gpt-4o", "titler"]),
        ({"protocol": "mock", "search": "titl"}, ["titler"]),
    ],
)
def test_filters_select_exactly_the_matching_models(snapshot, query, expected):
    assert names(snapshot, **query) == expected


def test_image_edit_type_also_lists_image_generation_models_that_edit():
    bundled = Snapshot.from_dict(build(Path(__file__).parent.parent / "catalog").snapshot)
    assert names(bundled, type="image-generation") == ["dall-e-3", "gpt-image-1"]
    # gpt-image-1 has the image_edit capability, dall-e-3 has not
    assert names(bundled, type="image-edit") == ["gpt-image-1"]
