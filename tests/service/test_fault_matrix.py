"""The fault matrix: each fault hits one pipeline (``victim``, alone on DLA0) or the whole
service, and the others keep their rate. Run against ``edge-runtime serve`` as a subprocess,
judged from its /metrics over a window after the fault.

| fault | how it is made |
|---|---|
| a stage raising | the victim's decode raises on every frame (hook) |
| an engine file corrupted on disk at start | a byte of its cached plan flipped, then start |
| an engine built by another backend version | its cached manifest names another version |
| a source that stalls | the victim's camera delivers nothing new (hook) |
| a lane that hangs | the victim's engine never returns (hook) |
| a power switch mid-run | 40W -> the lowest mode while running (hook) |
| SIGTERM under load | the critical pipeline at 100 Hz, then SIGTERM |
| SIGHUP with a broken config | an unknown key in the set, then SIGHUP |
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.service.conftest import StartServe
from tests.service.serve import ServeProcess, write_set

#: Others keep their rate: at least this share of it over the window (a loaded 2-core CI
#: machine runs the test, three pipelines, and the service's camera processes at once).
KEEPS_RATE = 0.6
WINDOW_S = 3.0
OTHERS = {"critical": 20.0, "steady": 10.0}
ROWS: list[str] = []


def rates(serve: ServeProcess, window_s: float = WINDOW_S) -> dict[str, float]:
    before = {name: serve.frames(name) for name in (*OTHERS, "victim")}
    time.sleep(window_s)
    return {name: (serve.frames(name) - count) / window_s for name, count in before.items()}


def keep_rate(serve: ServeProcess, fault: str, victim: str) -> None:
    measured = rates(serve)
    for name, rate in OTHERS.items():
        assert measured[name] >= KEEPS_RATE * rate, (fault, measured, serve.log())
    misses = serve.metrics()[("edge_runtime_deadline_misses_total", (("pipeline", "critical"),))]
    ROWS.append(f"| {fault} | critical {measured['critical']:.1f} Hz, steady "
                f"{measured['steady']:.1f} Hz | critical misses {misses:.0f} | {victim} |")
    print(ROWS[-1])


def _entry_of(cache: Path, engine: str) -> Path:
    for manifest in cache.glob("*/manifest.json"):
        if json.loads(manifest.read_text())["name"] == engine:
            return manifest.parent
    raise AssertionError(f"no cached {engine} in {cache}")


def _fill_cache(start_serve: StartServe, serve_set: Path) -> Path:
    first = start_serve(serve_set)
    first.wait_for("READY")
    first.signal(signal.SIGTERM)
    assert first.wait_exit(30) == 0
    first.close()
    return first.workdir / "cache"


def _triggered(start_serve: StartServe, serve_set: Path, hook: str) -> ServeProcess:
    serve = start_serve(serve_set, hook=hook, extra=["--lane-timeout", "1"])
    serve.wait_for("READY")
    serve.wait_until(lambda: serve.frames("victim") > 5, "the victim running")
    serve.signal(signal.SIGUSR1)
    time.sleep(1.5)  # the fault takes hold (a lane hang is judged after 1 s)
    return serve


def stage_raising(start_serve: StartServe, serve_set: Path) -> None:
    serve = _triggered(start_serve, serve_set, "raise_in_decode")
    keep_rate(serve, "a stage raising", "victim: decode errors counted, pipeline failed and "
              "restarting")
    errors = serve.metrics()[("edge_runtime_errors_total", (("kind", "ValueError"),
                                                            ("pipeline", "victim"),
                                                            ("stage", "decode")))]
    assert errors >= 5


def corrupted_engine(start_serve: StartServe, serve_set: Path) -> None:
    cache = _fill_cache(start_serve, serve_set)
    plan = _entry_of(cache, "tiny_dla") / "plan.bin"
    data = bytearray(plan.read_bytes())
    data[len(data) // 2] ^= 0xFF
    plan.write_bytes(bytes(data))
    serve = start_serve(serve_set)
    serve.wait_for("READY")
    assert "is damaged (plan sha256 does not match the manifest); rebuilding it" in serve.log()
    keep_rate(serve, "an engine file corrupted on disk at start", "victim: rebuilt, runs")
    assert rates(serve, 1.0)["victim"] > 0


def other_backend_version(start_serve: StartServe, serve_set: Path) -> None:
    cache = _fill_cache(start_serve, serve_set)
    manifest = _entry_of(cache, "tiny_dla") / "manifest.json"
    fields = json.loads(manifest.read_text())
    fields["backend_version"] = "0.0.1-other"
    manifest.write_text(json.dumps(fields))
    serve = start_serve(serve_set)
    serve.wait_for("READY")
    assert "was built by mock 0.0.1-other" in serve.log() and "rebuilding it" in serve.log()
    keep_rate(serve, "an engine built by another backend version", "victim: rebuilt, runs")


def source_stalls(start_serve: StartServe, serve_set: Path) -> None:
    serve = _triggered(start_serve, serve_set, "stall_source")
    keep_rate(serve, "a source that stalls", "victim: 0 Hz, nothing else affected")
    assert rates(serve, 1.0)["victim"] == 0


def lane_hangs(start_serve: StartServe, serve_set: Path) -> None:
    serve = _triggered(start_serve, serve_set, "freeze_lane")
    keep_rate(serve, "a lane that hangs", "victim: stuck; watchdog pings stop, /healthz 503")
    assert serve.get("/healthz")[0] == 503


def power_switch(start_serve: StartServe, serve_set: Path) -> None:
    serve = _triggered(start_serve, serve_set, "power_switch")
    keep_rate(serve, "a power switch mid-run", "all: on in the lowest mode")
    modes = [dict(labels)["mode"] for name, labels in serve.metrics()
             if name == "edge_runtime_power_mode_info"]
    assert modes and modes[0] != "40W"


def sigterm_under_load(start_serve: StartServe, serve_set: Path) -> None:
    text = serve_set.read_text().replace("fps: 20, seed: 1}", "fps: 100, seed: 1}")
    serve_set.write_text(text.replace("rate_hz: 20", "rate_hz: 100", 1))
    serve = start_serve(serve_set)
    serve.wait_for("READY")
    time.sleep(2.0)
    sent = serve.signal(signal.SIGTERM)
    assert serve.wait_exit(30) == 0
    took = time.monotonic() - sent
    sink = serve.workdir / "out" / "critical.jsonl"
    frames = [json.loads(line)["frame"] for line in sink.read_text().splitlines()]
    assert took < 5.0 and frames and not sink.with_name("critical.jsonl.part").exists()
    ROWS.append(f"| SIGTERM under load | exit 0 in {took:.2f} s | {len(frames)} critical "
                "outputs, every line whole | critical at 100 Hz |")
    print(ROWS[-1])


def sighup_broken_config(start_serve: StartServe, serve_set: Path) -> None:
    serve = start_serve(serve_set)
    serve.wait_for("READY")
    serve_set.write_text(serve_set.read_text().replace("priority: high",
                                                       "priority: high\n    colour: red"))
    serve.wait_for("READY", serve.wait_for("RELOADING", serve.signal(signal.SIGHUP)).at)
    assert "reload refused, the running set is unchanged" in serve.log()
    keep_rate(serve, "SIGHUP with a broken config", "all: the old set runs on")


CASES: dict[str, Callable[[StartServe, Path], None]] = {
    "stage_raising": stage_raising, "corrupted_engine": corrupted_engine,
    "other_backend_version": other_backend_version, "source_stalls": source_stalls,
    "lane_hangs": lane_hangs, "power_switch": power_switch,
    "sigterm_under_load": sigterm_under_load, "sighup_broken_config": sighup_broken_config,
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_others_keep_their_rate(case: str, tiny_recipe: Path, tmp_path: Path,
                                    start_serve: StartServe) -> None:
    del tiny_recipe
    CASES[case](start_serve, write_set(tmp_path))
