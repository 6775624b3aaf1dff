"""Cost impact: last N days of real traffic priced before and after, as a monthly change.

Traffic comes from the proxy's usage log (one JSON line per request) or a scrape of its
Prometheus metrics (`modelyard_tokens_total`). Each model's usage is spread over its channels
by the route planner's first-choice shares on each side and priced with the proxy's own
`cost_of`, so a price change and a weight change both show as money.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.catalog.snapshot import Snapshot
from gateway.proxy.plan import plan_route
from gateway.usage.pricing import Usage, cost_of

DAYS_PER_MONTH = Decimal("30")
_COUNTS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "characters",
)
_METRIC = re.compile(r"^modelyard_tokens(?:_total)?\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_KINDS = {
    "input": "input_tokens",
    "cached_input": "cached_input_tokens",
    "output": "output_tokens",
    "reasoning": "reasoning_tokens",
}


class UsageUnreadable(ValueError):
    """The usage file is neither a usage log nor a metrics scrape."""


@dataclass(frozen=True, slots=True)
class Traffic:
    """Usage per model over `days` days."""

    by_model: Mapping[str, Usage]
    days: Decimal


def _add(total: Usage, usage: Mapping[str, Any]) -> None:
    for name in _COUNTS:
        value = usage.get(name)
        if isinstance(value, int) and value > 0:
            setattr(total, name, getattr(total, name) + value)
    for name in ("audio_seconds", "video_seconds"):
        if usage.get(name):
            setattr(total, name, getattr(total, name) + Decimal(str(usage[name])))


def read_usage_log(lines: Iterable[str]) -> Traffic:
    """Sum a usage log per model; its days are the span of its lines' times (at least one)."""
    by_model: dict[str, Usage] = {}
    first = last = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            when = datetime.fromisoformat(record["time"])
            model, usage = record["model"], record.get("usage") or {}
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageUnreadable(f"line {number}: not a usage log line ({exc})") from None
        _add(by_model.setdefault(model, Usage()), usage)
        first = when if first is None or when < first else first
        last = when if last is None or when > last else last
    span = Decimal((last - first).total_seconds()) / 86400 if first and last else Decimal(0)
    return Traffic(by_model, max(span, Decimal(1)))


def read_metrics(text: str, days: Decimal) -> Traffic:
    """Sum `modelyard_tokens_total{model,channel,kind}` per model; counters cover `days`."""
    by_model: dict[str, Usage] = {}
    for line in text.splitlines():
        match = _METRIC.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        field = _KINDS.get(labels.get("kind", ""))
        if field and "model" in labels:
            _add(by_model.setdefault(labels["model"], Usage()), {field: int(float(match["value"]))})
    if not by_model:
        raise UsageUnreadable("no modelyard_tokens_total samples found")
    return Traffic(by_model, days)


def read_traffic(path: Path, days: Decimal | None = None) -> Traffic:
    """A usage log (JSON lines) or a metrics scrape, told apart by their first character."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        traffic = read_usage_log(text.splitlines())
        return Traffic(traffic.by_model, days) if days else traffic
    return read_metrics(text, days or DAYS_PER_MONTH)


def _model_cost(snapshot: Snapshot, model: str, usage: Usage) -> tuple[Decimal, str] | None:
    found = snapshot.models_by_name.get(model)
    if found is None:
        return None
    plan = plan_route(snapshot, found, None, max_destination=None)
    total, currency = Decimal(0), ""
    for name, share in plan.first_choice_probabilities().items():
        cost = cost_of(usage, snapshot.channels[name].price, snapshot.native_tools)
        if cost is not None and share:
            total += cost.amount * Decimal(str(share))
            currency = cost.currency
    return total, currency or snapshot.settings.currency


def cost_impact(old: Snapshot, new: Snapshot, traffic: Traffic) -> dict[str, Any]:
    """Monthly cost per model before and after, and the totals (decimal strings)."""
    scale = DAYS_PER_MONTH / traffic.days
    rows, before_total, after_total = [], Decimal(0), Decimal(0)
    for model, usage in sorted(traffic.by_model.items()):
        before, after = _model_cost(old, model, usage), _model_cost(new, model, usage)
        b = before[0] * scale if before else None
        a = after[0] * scale if after else None
        before_total += b or 0
        after_total += a or 0
        if b != a:
            rows.append(
                {
                    "model": model,
                    "before": _money(b),
                    "after": _money(a),
                    "change": _money((a or Decimal(0)) - (b or Decimal(0))),
                }
            )
    return {
        "days": str(traffic.days.quantize(Decimal("0.01"))),
        "models": rows,
        "before": _money(before_total),
        "after": _money(after_total),
        "change": _money(after_total - before_total),
        "currency": new.settings.currency,
    }


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value.quantize(Decimal("0.01")), "f")
