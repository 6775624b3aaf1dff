"""Realtime relay load: many concurrent sessions through one proxy worker, against direct.

    python -m benchmarks.realtime_load [--sessions 200] [--rate 20] [--duration 30]

Starts an echo upstream (a WebSocket server in its own process that answers every
`input_audio_buffer.append` with a `response.output_audio.delta` of the same size) and
`modelyard serve` with one worker. Then runs the same load twice: sessions straight to the
upstream (the baseline), and sessions through the proxy. Each session sends `--rate`
events a second (20 ms of 24 kHz PCM16 audio each, 1.3 KB of base64) for `--duration`
seconds and times each event's round trip. The added per-event latency is the proxied
percentile minus the direct one; the proxy's RSS is sampled every second.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.proxy import procs
from benchmarks.soak_support import machine, percentile

# A client key made for this run only: the benchmark catalog holds its digest.
KEY = "bench-" + secrets.token_hex(8)
AUDIO = base64.b64encode(os.urandom(960)).decode()  # 20 ms of 24 kHz 16-bit mono
SEND_TYPE, ECHO_TYPE = '"input_audio_buffer.append"', '"response.output_audio.delta"'


# ----- the echo upstream (its own process) -----


def run_upstream(port: int) -> None:
    from websockets.asyncio.server import serve

    async def echo(ws) -> None:  # noqa: ANN001 - a websockets ServerConnection
        async for raw in ws:
            await ws.send(str(raw).replace(SEND_TYPE, ECHO_TYPE, 1))

    async def main() -> None:
        async with serve(echo, "127.0.0.1", port, max_size=None, compression=None):
            await asyncio.Future()

    asyncio.run(main())


# ----- the load -----


@dataclass
class Tally:
    rtts: list[float] = field(default_factory=list)
    sent: int = 0
    lost: int = 0
    errors: list[str] = field(default_factory=list)


def _event_id(raw: str) -> str:
    """The event's id, found without parsing the whole event: the generator's own cost is
    in both runs, and the less it spends the more the difference says about the proxy."""
    start = raw.find('"event_id":') + len('"event_id":')
    start = raw.index('"', start) + 1
    return raw[start : raw.index('"', start)]


async def session(
    url: str,
    headers: dict[str, str],
    rate: float,
    duration: float,
    tally: Tally,
    start_at: float,
    phase: float,
) -> None:
    from websockets.asyncio.client import connect

    sent_at: dict[str, float] = {}
    try:
        async with connect(
            url, additional_headers=headers, max_size=None, compression=None, open_timeout=30
        ) as ws:

            async def receive() -> None:
                async for raw in ws:
                    at = time.perf_counter()
                    sent = sent_at.pop(_event_id(str(raw)), None)
                    if sent is not None:
                        tally.rtts.append(at - sent)

            reader = asyncio.ensure_future(receive())
            loop = asyncio.get_running_loop()
            await asyncio.sleep(max(0.0, start_at + phase / rate - loop.time()))
            began, interval, n = loop.time(), 1 / rate, 0
            while loop.time() - began < duration:
                event_id = f"e{n}"
                sent_at[event_id] = time.perf_counter()
                await ws.send(
                    json.dumps(
                        {"type": "input_audio_buffer.append", "event_id": event_id, "audio": AUDIO}
                    )
                )
                tally.sent += 1
                n += 1
                await asyncio.sleep(max(0.0, began + n * interval - loop.time()))
            deadline = loop.time() + 5
            while sent_at and loop.time() < deadline:
                await asyncio.sleep(0.05)
            tally.lost += len(sent_at)
            reader.cancel()
    except Exception as error:  # noqa: BLE001 - counted and reported, the run goes on
        tally.errors.append(f"{type(error).__name__}: {error}")


async def load(
    url: str, headers: dict[str, str], sessions: int, rate: float, duration: float
) -> Tally:
    tally = Tally()
    # Sessions open first, then send at their own phase of the period (seeded, the same in
    # both runs): independent clients do not send in lockstep.
    start_at = asyncio.get_running_loop().time() + max(2.0, sessions / 100)
    phases = random.Random(7)
    await asyncio.gather(
        *(
            session(url, headers, rate, duration, tally, start_at, phases.random())
            for _ in range(sessions)
        )
    )
    return tally


def summary(tally: Tally, duration: float) -> dict[str, float]:
    rtts = sorted(tally.rtts)
    return {
        "events": len(rtts),
        "events_per_s": round(len(rtts) / duration, 1),
        "p50_ms": round(percentile(rtts, 50) * 1000, 2),
        "p99_ms": round(percentile(rtts, 99) * 1000, 2),
        "lost": tally.lost,
        "errors": len(tally.errors),
    }


def catalog(root: Path, upstream_port: int) -> None:
    import hashlib

    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    (root / "catalog.yaml").write_text(f"""\
kind: Provider
name: echo
protocol: openai
base_url: http://127.0.0.1:{upstream_port}/v1
auth: {{type: none}}
---
kind: Model
name: rt
type: realtime
---
kind: Channel
name: rt@echo
model: rt
provider: echo
upstream_model: echo-realtime
price: {{currency: USD, unit: per_million_tokens, input: "4", output: "16"}}
---
kind: Consumer
name: bench
owner: {{type: person, code: bench}}
key_sha256: [{digest}]
scopes: [public]
""")


def run(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="realtime-bench-"))
    load_before = os.getloadavg()[0]  # other work on the machine shows in every figure
    upstream_port, proxy_port = procs.free_port(), procs.free_port()
    catalog(work / "catalog", upstream_port)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with (
        procs.running(
            [sys.executable, "-m", "benchmarks.realtime_load", "upstream", str(upstream_port)],
            log=work / "upstream.log",
            env=env,
        ) as upstream,
        procs.running(
            [
                sys.executable,
                "-m",
                "cli.main",
                "serve",
                "--catalog",
                str(work / "catalog"),
                "--port",
                str(proxy_port),
                "--log-level",
                "warning",
            ],
            log=work / "proxy.log",
            env=env,
        ) as proxy,
    ):
        procs.wait_port(upstream_port, timeout_s=30, proc=upstream)
        procs.wait_http(f"http://127.0.0.1:{proxy_port}/readyz", timeout_s=60, proc=proxy)
        direct = asyncio.run(
            load(
                f"ws://127.0.0.1:{upstream_port}/v1/realtime?model=x",
                {},
                args.sessions,
                args.rate,
                args.duration,
            )
        )
        idle_mb = procs.rss_mb(proxy.pid)
        samples: list[float] = []
        cpu_before = procs.cpu_s(proxy.pid)

        async def sampled() -> Tally:
            async def sample() -> None:
                while True:
                    samples.append(procs.rss_mb(proxy.pid))
                    await asyncio.sleep(1)

            sampler = asyncio.ensure_future(sample())
            try:
                return await load(
                    f"ws://127.0.0.1:{proxy_port}/v1/realtime?model=rt",
                    {"Authorization": f"Bearer {KEY}"},
                    args.sessions,
                    args.rate,
                    args.duration,
                )
            finally:
                sampler.cancel()

        proxied = asyncio.run(sampled())
        cpu = procs.cpu_s(proxy.pid) - cpu_before
        time.sleep(1)
        after_mb = procs.rss_mb(proxy.pid)
    d, p = summary(direct, args.duration), summary(proxied, args.duration)
    return {
        "machine": machine(),
        "sessions": args.sessions,
        "rate": args.rate,
        "duration_s": args.duration,
        "direct": d,
        "proxied": p,
        "added_p50_ms": round(p["p50_ms"] - d["p50_ms"], 2),
        "added_p99_ms": round(p["p99_ms"] - d["p99_ms"], 2),
        "proxy_cpu_s": round(cpu, 1),
        # Each event crosses the proxy twice (client → upstream, echo → client).
        "proxy_cpu_us_per_frame": round(cpu * 1e6 / max(1, 2 * p["events"]), 1),
        "load_average": {"before": load_before, "after": os.getloadavg()[0]},
        "rss_mb": {
            "idle": round(idle_mb, 1),
            "peak": round(max(samples, default=0), 1),
            "after": round(after_mb, 1),
            "per_session_kb": round(
                (max(samples, default=idle_mb) - idle_mb) * 1000 / args.sessions, 1
            ),
        },
        "first_errors": (direct.errors + proxied.errors)[:3],
    }


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "upstream":
        run_upstream(int(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second per session")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of the benchmark and what it starts (negative: root)",
    )
    args = parser.parse_args()
    if args.nice:
        os.nice(args.nice)  # inherited by the upstream and the proxy
    figures = run(args)
    figures["nice"] = args.nice
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if not figures["first_errors"] and not figures["proxied"]["lost"] else 1


if __name__ == "__main__":
    sys.exit(main())
