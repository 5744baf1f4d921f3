"""Policy: is the runtime alive (worth a watchdog ping), is it ready, and the one-line status.

Decided from :meth:`Runtime.status` snapshots only, so the same rules run on a real clock and
a simulated one, and tests feed them snapshots. *Alive* means the scheduler makes progress: the
loop has turned recently and no lane has been running one job for longer than any inference
should take. A process that is up but stuck (an engine that never returns, a deadlocked loop)
is not alive: the watchdog pings stop and systemd restarts the service. *Ready* means every
pipeline that has not failed is running.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_runtime.runtime.status import RuntimeStatus

#: A pipeline in one of these states counts as serving (a disabled one was stopped on purpose).
SERVING = ("running", "disabled")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    #: Why not (empty when ok), one line for logs, ``STATUS=`` and the health endpoints.
    reason: str = ""


@dataclass(frozen=True)
class Liveness:
    """The thresholds of "stuck"."""

    #: A lane running one job longer than this is hung (an inference takes milliseconds).
    lane_timeout_s: float = 3.0
    #: The loop wakes at least every 0.25 s; not turning for this long means it is stuck.
    loop_timeout_s: float = 2.0

    def alive(self, status: RuntimeStatus) -> Verdict:
        if status.state != "active":
            return Verdict(False, f"runtime is {status.state}")
        if status.loop_idle_s is not None and status.loop_idle_s > self.loop_timeout_s:
            return Verdict(False, f"the scheduler loop has not turned for "
                                  f"{status.loop_idle_s:.1f} s")
        stuck = {lane: busy for lane, busy in status.lanes_busy_s.items()
                 if busy > self.lane_timeout_s}
        if stuck:
            lanes = ", ".join(f"{lane} for {busy:.1f} s" for lane, busy in sorted(stuck.items()))
            return Verdict(False, f"lane stuck on one inference: {lanes}")
        return Verdict(True)


def ready(status: RuntimeStatus) -> Verdict:
    """Every pipeline that has not failed is running (a failed one restarts on its own; the
    others serve meanwhile)."""
    if status.state != "active":
        return Verdict(False, f"runtime is {status.state}")
    waiting = sorted(name for name, p in status.pipelines.items()
                     if p.state != "failed" and p.state not in SERVING)
    if waiting:
        return Verdict(False, "not running: " + ", ".join(
            f"{name} ({status.pipelines[name].state})" for name in waiting))
    return Verdict(True)


def status_line(status: RuntimeStatus) -> str:
    """``STATUS=`` for ``systemctl status``: mode, pipelines running, each one's rate."""
    running = sum(p.state == "running" for p in status.pipelines.values())
    rates = ", ".join(f"{name} {p.hz:.1f} Hz" + ("" if p.state == "running" else f" ({p.state})")
                      for name, p in status.pipelines.items())
    watts = f", {status.watts:.1f} W" if status.watts is not None else ""
    return (f"{status.power_mode}{watts}: {running}/{len(status.pipelines)} pipelines running"
            + (f": {rates}" if rates else ""))
