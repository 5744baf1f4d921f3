"""Soak: ``edge-runtime serve`` on the demo set for ten minutes, sampled for leaks.

Every 10 s the service process (and, separately, its camera processes) is sampled with psutil:
resident memory, threads and open files; its /metrics are scraped for frames and misses.
Growth is the last minute's mean against the first minute after warm-up (engines loaded,
caches and pools filled): a leak of a few kilobytes per frame shows as several percent over
ten minutes at 55 frames a second; the bound is 2 %. At the end SIGTERM, and the stop's time
and exit status are recorded too.

    python -m bench.soak [--minutes 10] [--every 10] [--warmup 60]

Writes ``bench/results/soak.json`` (and ``soak.png`` when matplotlib is present).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.plotting import pyplot
from edge_runtime import __version__
from edge_runtime.config.assets import pipelines_dir
from edge_runtime.fileio import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
#: The issue's bound on growth after warm-up.
MAX_GROWTH = 0.02


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    """Totals over pipelines of the counters that matter here."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("edge_runtime_frames_total", "edge_runtime_deadline_misses_total",
                               "edge_runtime_drops_total", "edge_runtime_errors_total"):
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def sample(process: psutil.Process, port: int, started: float) -> dict[str, Any]:
    children = process.children(recursive=True)
    row: dict[str, Any] = {
        "t_s": round(time.monotonic() - started, 1),
        "rss_mb": round(process.memory_info().rss / 2**20, 2),
        "threads": process.num_threads(),
        "open_files": process.num_fds(),
        "children": len(children),
        "children_rss_mb": round(sum(c.memory_info().rss for c in children) / 2**20, 2),
    }
    row.update({key.removeprefix("edge_runtime_").removesuffix("_total"): value
                for key, value in scrape(port).items()})
    return row


def growth(samples: list[dict[str, Any]], key: str, warmup_s: float, window: int) -> float:
    after = [s[key] for s in samples if s["t_s"] >= warmup_s]
    if len(after) < 2 * window:
        raise SystemExit(f"too few samples after warm-up ({len(after)}); run longer")
    first = statistics.mean(after[:window])
    last = statistics.mean(after[-window:])
    return (last - first) / first if first else 0.0


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"serve exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("serve was not ready in time")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds not judged")
    parser.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    args = parser.parse_args(argv)
    port = free_port()
    window = max(int(60 / args.every), 2)
    with tempfile.TemporaryDirectory(prefix="edge-runtime-soak-") as workdir:
        command = [sys.executable, "-m", "edge_runtime", "serve",
                   str(pipelines_dir() / "demo.yaml"), "--metrics", f"127.0.0.1:{port}"]
        log = Path(workdir) / "serve.log"
        with log.open("wb") as out:
            server = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
            try:
                wait_ready(port, server)
                started = time.monotonic()
                process = psutil.Process(server.pid)
                samples: list[dict[str, Any]] = []
                while (elapsed := time.monotonic() - started) <= args.minutes * 60:
                    samples.append(sample(process, port, started))
                    print(f"soak {elapsed:5.0f}/{args.minutes * 60:.0f} s: "
                          f"rss {samples[-1]['rss_mb']:.1f} MB, threads "
                          f"{samples[-1]['threads']}, files {samples[-1]['open_files']}, "
                          f"frames {samples[-1].get('frames', 0):.0f}", flush=True)
                    time.sleep(max(args.every - (time.monotonic() - started - elapsed), 0.0))
                stop_sent = time.monotonic()
                server.send_signal(signal.SIGTERM)
                status = server.wait(60)
                stop_s = time.monotonic() - stop_sent
            finally:
                if server.poll() is None:
                    server.kill()
    result = summarise(samples, args, window, status, stop_s)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    plot(result, args.out.with_suffix(".png"))
    return 0 if result["pass"] else 1


def summarise(samples: list[dict[str, Any]], args: argparse.Namespace, window: int,
              status: int, stop_s: float) -> dict[str, Any]:
    growths = {key: round(growth(samples, key, args.warmup, window), 5)
               for key in ("rss_mb", "threads", "open_files", "children_rss_mb")}
    last = samples[-1]
    return {
        "benchmark": "soak", "edge_runtime": __version__, "python": platform.python_version(),
        "machine": platform.machine(), "cpus": os.cpu_count(), "set": "pipelines/demo.yaml",
        "minutes": args.minutes, "every_s": args.every, "warmup_s": args.warmup,
        "growth_after_warmup": growths, "max_growth": MAX_GROWTH,
        "frames": last.get("frames"), "deadline_misses": last.get("deadline_misses"),
        "drops": last.get("drops"), "errors": last.get("errors", 0.0),
        "stop_exit_status": status, "stop_s": round(stop_s, 3),
        "pass": all(abs(g) < MAX_GROWTH for k, g in growths.items() if k != "children_rss_mb")
        and status == 0,
        "samples": samples,
    }


def plot(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    samples = result["samples"]
    times = [s["t_s"] / 60 for s in samples]
    figure, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    for axis, key, label in zip(axes, ("rss_mb", "threads", "open_files"),
                                ("RSS (MB)", "threads", "open files"), strict=True):
        axis.plot(times, [s[key] for s in samples], marker=".")
        axis.axvline(result["warmup_s"] / 60, color="grey", linestyle=":")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    growth_pct = result["growth_after_warmup"]["rss_mb"] * 100
    axes[0].set_title(f"serve soak on the demo set: RSS growth after warm-up "
                      f"{growth_pct:+.2f} % (bound {MAX_GROWTH * 100:.0f} %)")
    axes[-1].set_xlabel("minutes")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    raise SystemExit(main())
