"""``edge-runtime serve`` end to end, as systemd drives it: READY, WATCHDOG only while the
scheduler makes progress, metrics during the run, SIGHUP reloads (a broken config refused),
SIGTERM drains and exits 0 with complete sinks."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from tests.service.conftest import StartServe
from tests.service.serve import SET, ServeProcess, write_set

#: The longest a clean stop may take (the issue's bound; measured: well under a second).
STOP_BOUND_S = 5.0


def frames_in(path: Path) -> list[int]:
    return [json.loads(line)["frame"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_ready_watchdog_metrics_reload_and_a_clean_stop(serve_set: Path,
                                                        start_serve: StartServe) -> None:
    serve = start_serve(serve_set, watchdog_s=1.0)
    ready = serve.wait_for("READY")
    assert "3/3 pipelines running" in ready.fields["STATUS"]
    assert all(n.at >= ready.at for n in serve.sent("WATCHDOG"))  # no ping before READY
    serve.wait_until(lambda: len(serve.sent("WATCHDOG", ready.at)) >= 3, "three pings")
    assert serve.get("/healthz") == (200, "ok\n")
    serve.wait_until(lambda: serve.get("/readyz")[0] == 200, "ready probe")

    _check_metrics(serve)
    _reload_with_a_changed_rate(serve, serve_set)
    _reload_with_a_broken_config_is_refused(serve, serve_set)
    _stop_cleanly(serve)


def _check_metrics(serve: ServeProcess) -> None:
    serve.wait_until(lambda: serve.frames("victim") > 0, "frames on every pipeline")
    metrics = serve.metrics()
    for pipeline in ("critical", "steady", "victim"):
        assert metrics[("edge_runtime_frames_total", (("pipeline", pipeline),))] > 0
        assert metrics[("edge_runtime_latency_seconds_count", (("pipeline", pipeline),))] > 0
    assert metrics[("edge_runtime_rate_hz", (("pipeline", "steady"),))] == 10.0
    assert {labels for name, labels in metrics if name == "edge_runtime_lane_utilisation"} \
        == {(("lane", "gpu"),), (("lane", "dla0"),)}
    mode = [labels for name, labels in metrics if name == "edge_runtime_power_mode_info"]
    assert dict(mode[0])["mode"] == "40W"
    assert metrics[("edge_runtime_module_watts", (("source", "simulated"),))] > 0
    hits = [name for name, _ in metrics if name == "edge_runtime_engine_cache_hit"]
    assert len(hits) == 3
    assert metrics[("edge_runtime_alive", ())] == 1.0


def _reload_with_a_changed_rate(serve: ServeProcess, serve_set: Path) -> None:
    text = serve_set.read_text(encoding="utf-8")
    serve_set.write_text(text.replace("rate_hz: 10\n    priority: high",
                                      "rate_hz: 5\n    priority: high"), encoding="utf-8")
    assert "rate_hz: 5" in serve_set.read_text(encoding="utf-8")
    sent = serve.signal(signal.SIGHUP)
    reloading = serve.wait_for("RELOADING", sent)
    assert "MONOTONIC_USEC" in reloading.fields
    serve.wait_for("READY", reloading.at)
    serve.wait_until(lambda: "reloaded: added -, changed ['steady']" in serve.log(), "reload log")
    assert serve.metrics()[("edge_runtime_rate_hz", (("pipeline", "steady"),))] == 5.0


def _reload_with_a_broken_config_is_refused(serve: ServeProcess, serve_set: Path) -> None:
    good = serve_set.read_text(encoding="utf-8")
    serve_set.write_text(good.replace("priority: high", "priority: high\n    colour: red"),
                         encoding="utf-8")
    before = serve.frames("critical")
    sent = serve.signal(signal.SIGHUP)
    serve.wait_for("READY", serve.wait_for("RELOADING", sent).at)
    refused = [line for line in serve.log().splitlines() if "reload refused" in line]
    assert len(refused) == 1 and f"{serve_set}:" in refused[0] and "colour" in refused[0]
    assert "Traceback" not in serve.log()
    serve.wait_until(lambda: serve.frames("critical") > before + 10, "frames after refusal")
    assert serve.process.poll() is None
    serve_set.write_text(good, encoding="utf-8")


def _stop_cleanly(serve: ServeProcess) -> None:
    last = serve.metrics()
    sent = serve.signal(signal.SIGTERM)
    assert serve.wait_exit(30) == 0, serve.log()
    took = time.monotonic() - sent
    assert took < STOP_BOUND_S, f"stop took {took:.2f} s"
    assert serve.wait_for("STOPPING", sent)
    sink = serve.workdir / "out" / "critical.jsonl"
    assert not sink.with_name(sink.name + ".part").exists()
    frames = frames_in(sink)  # every line is whole JSON
    assert frames == list(range(frames[0], frames[0] + len(frames))), "a critical frame lost"
    assert len(frames) >= last[("edge_runtime_frames_total", (("pipeline", "critical"),))]
    final = serve.log()
    assert last[("edge_runtime_deadline_misses_total", (("pipeline", "critical"),))] == 0, final


def test_a_frozen_lane_stops_the_watchdog_pings(tiny_recipe: Path, tmp_path: Path,
                                                start_serve: StartServe) -> None:
    del tiny_recipe
    serve = start_serve(write_set(tmp_path, SET), watchdog_s=1.0, hook="freeze_lane",
                        extra=["--lane-timeout", "1"])
    ready = serve.wait_for("READY")
    serve.wait_until(lambda: len(serve.sent("WATCHDOG", ready.at)) >= 2, "pings")
    frozen_at = serve.signal(signal.SIGUSR1)
    serve.wait_until(lambda: any("NOT MAKING PROGRESS" in n.fields.get("STATUS", "")
                                 for n in serve.sent("STATUS", frozen_at)), "the stuck status")
    stuck = next(n for n in serve.sent("STATUS", frozen_at)
                 if "NOT MAKING" in n.fields["STATUS"])
    assert "lane stuck on one inference: dla0" in stuck.fields["STATUS"]
    code, reason = serve.get("/healthz")
    assert code == 503 and "lane stuck" in reason and "dla0" in reason
    critical = serve.frames("critical")
    time.sleep(2.0)  # four ping periods
    assert serve.sent("WATCHDOG", stuck.at) == [], "pinged while a lane was stuck"
    assert serve.frames("critical") > critical, "the GPU's pipelines must keep running"
    assert serve.metrics()[("edge_runtime_alive", ())] == 0.0
