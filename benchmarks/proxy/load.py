"""Drive one benchmark point with wrk and read its summary back as data."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

_MARKER = "BENCH_JSON "

# wrk calls done() once with the merged summary of all its threads; it prints one JSON line.
_LUA = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{marker}{{"requests":%.0f,"duration_us":%.0f,"p50_us":%.1f,"p90_us":%.1f,' ..
    '"p99_us":%.1f,"max_us":%.1f,"connect":%.0f,"read":%.0f,"write":%.0f,' ..
    '"status":%.0f,"timeout":%.0f}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True, slots=True)
class Point:
    """What wrk measured at one concurrency: throughput, latency percentiles, failures."""

    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int  # socket errors plus non-2xx answers
    cpu_us: float | None = None  # server CPU time per request, when the server is ours

    @classmethod
    def from_summary(cls, s: dict) -> Point:
        errors = int(s["connect"] + s["read"] + s["write"] + s["status"] + s["timeout"])
        return cls(
            requests=int(s["requests"]),
            rps=s["requests"] / (s["duration_us"] / 1e6),
            p50_ms=s["p50_us"] / 1000,
            p90_ms=s["p90_us"] / 1000,
            p99_ms=s["p99_us"] / 1000,
            errors=errors,
        )


def write_script(path: Path, body: bytes, key: str) -> Path:
    """A wrk Lua script that POSTs `body` with `key` and prints its summary as JSON."""
    text = body.decode()
    if "]==]" in text or '"' in key:
        raise ValueError("body or key cannot be embedded in the wrk script")
    path.write_text(_LUA.format(body=text, key=key, marker=_MARKER))
    return path


def run_wrk(url: str, script: Path, *, connections: int, seconds: float, threads: int = 1) -> Point:
    """Run wrk for `seconds` with `connections` open connections; raise if it fails."""
    threads = min(threads, connections)
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    except subprocess.TimeoutExpired:
        # wrk stops on its own after `seconds` (each request bounded by --timeout): a
        # point that outlives both is a stuck server, noted as such rather than a crash.
        raise RuntimeError(f"wrk did not finish within {seconds + 30:g} s") from None
    for line in done.stdout.splitlines():
        if line.startswith(_MARKER):
            return Point.from_summary(json.loads(line[len(_MARKER) :]))
    raise RuntimeError(
        f"wrk gave no summary (exit {done.returncode}): "
        f"{done.stderr.strip() or done.stdout.strip()[-400:]}"
    )
