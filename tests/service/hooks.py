"""Fault hooks for ``edge-runtime serve --fault-hook tests/service/hooks.py:NAME``.

Each is called in the service's main thread with the :class:`Runtime`, after configure and
after every reload. They reach into the runtime's pipelines the way a real fault would show:
an engine that never returns, a decoder that raises, a camera that stops delivering.
Which pipeline is hit is read from ``$FAULT_PIPELINE`` (default: ``victim``).
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from edge_runtime.pipelines.sources import Empty
from edge_runtime.runtime.runtime import Runtime

#: Set by SIGUSR1: the fault starts then, so the service is seen healthy first.
TRIGGERED = threading.Event()


def _victim(runtime: Runtime) -> Any:
    return runtime.pipelines[os.environ.get("FAULT_PIPELINE", "victim")]


def _arm() -> None:
    signal.signal(signal.SIGUSR1, lambda signum, frame: TRIGGERED.set())


def _after_trigger(target: Any, method: str, fault: Any) -> None:
    """Replace ``target.method``: the real one until SIGUSR1, then ``fault``'s answer."""
    _arm()
    real = getattr(target, method)

    def patched(*args: Any, **kwargs: Any) -> Any:
        return fault() if TRIGGERED.is_set() else real(*args, **kwargs)

    setattr(target, method, patched)


def _hang() -> Any:
    threading.Event().wait()  # forever


def _raise() -> Any:
    raise ValueError("injected decode fault")


def freeze_lane(runtime: Runtime) -> None:
    """After SIGUSR1, the victim's engine never returns: its lane hangs."""
    _after_trigger(_victim(runtime).runner, "infer", _hang)


def raise_in_decode(runtime: Runtime) -> None:
    """After SIGUSR1, the victim's postprocess raises on every frame."""
    _after_trigger(_victim(runtime), "decode", _raise)


def stall_source(runtime: Runtime) -> None:
    """After SIGUSR1, the victim's camera delivers nothing new (a stalled driver)."""
    _after_trigger(_victim(runtime), "capture", lambda: Empty.NOTHING_NEW)


def power_switch(runtime: Runtime) -> None:
    """On SIGUSR1, switch to the lowest power mode (what a governor would do mid-run)."""
    assert runtime.power is not None
    lowest = min(runtime.power.profile.modes, key=lambda mode: mode.budget_w or float("inf"))

    def switch(signum: int, frame: object) -> None:
        del signum, frame
        TRIGGERED.set()
        runtime.set_power_mode(lowest.label)

    signal.signal(signal.SIGUSR1, switch)
