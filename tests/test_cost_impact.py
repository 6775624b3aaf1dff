"""`diff --usage`: real traffic priced on both sides, as a monthly cost change per model."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

from gateway.review.cost import read_traffic
from tests.review_support import BASE, copy_base, edit, setter


def usage_log(path, days=3):
    """`days` days of traffic on `big` and `small`: 1M input and 100k output tokens a day."""
    lines = []
    for day in range(days + 1):  # first and last line `days` days apart
        for model in ("big", "small"):
            lines.append(
                json.dumps(
                    {
                        "time": f"2026-11-0{day + 1}T12:00:00.000+00:00",
                        "request_id": f"r{day}{model}",
                        "consumer": "analyst",
                        "model": model,
                        "requested_model": model,
                        "endpoint": "chat",
                        "stream": False,
                        "attempts": 1,
                        "status": 200,
                        "latency_ms": 12.5,
                        "usage": {"input_tokens": 1_000_000, "output_tokens": 100_000},
                    }
                )
            )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_usage_log_is_summed_per_model_over_its_time_span(tmp_path):
    traffic = read_traffic(usage_log(tmp_path / "usage.log"))
    assert traffic.days == 3
    assert traffic.by_model["big"].input_tokens == 4_000_000


def test_price_and_weight_changes_show_as_monthly_cost(tmp_path):
    head = copy_base(tmp_path / "head")
    edit(head, "PriceBook", "azure-list", lambda d: d["prices"]["gpt-4o"].update(input="5.00"))
    edit(head, "Channel", "big@openai", setter(weight=1))
    log = usage_log(tmp_path / "usage.log")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "diff",
            str(BASE),
            str(head),
            "--format",
            "json",
            "--usage",
            str(log),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    cost = json.loads(done.stdout)["cost"]
    # big: 4M input, 0.4M output over 3 days; 30-day month = x10.
    # before: 75% openai + 25% azure at 2.50/10.00 -> (4*2.5 + 0.4*10) = 14.00 x10 = 140.00
    # after: 50% openai at 2.50/10.00 (14.00) + 50% azure at 5.00/10.00 (24.00) = 19 x10 = 190
    assert cost["models"] == [
        {"model": "big", "before": "140.00", "after": "190.00", "change": "50.00"}
    ]
    # small: 4M x 0.15 + 0.4M x 0.60 = 0.84 x10 = 8.40 on both sides
    assert (cost["before"], cost["after"], cost["change"]) == ("148.40", "198.40", "50.00")
    assert Decimal(cost["days"]) == 3


def test_metrics_scrape_is_read_over_the_days_given(tmp_path):
    scrape = tmp_path / "metrics.txt"
    scrape.write_text(
        "# HELP modelyard_tokens_total Tokens used\n"
        'modelyard_tokens_total{model="small",channel="small@azure",kind="input"} '
        "2e+06\n"
        'modelyard_tokens_total{model="small",channel="small@azure",kind="output"} '
        "1e+06\n"
    )
    traffic = read_traffic(scrape, Decimal(10))
    assert (traffic.by_model["small"].input_tokens, traffic.days) == (2_000_000, 10)


def test_unreadable_usage_file_is_bad_usage(tmp_path):
    bad = tmp_path / "usage.log"
    bad.write_text("{not json\n")
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "diff", str(BASE), str(BASE), "--usage", str(bad)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "line 1: not a usage log line" in done.stderr
