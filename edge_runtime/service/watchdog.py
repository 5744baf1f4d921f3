"""Mechanism: the thread that pings systemd's watchdog while the runtime makes progress.

Every ``period`` (half of ``WatchdogSec``, as ``sd_watchdog_enabled(3)`` advises) it takes a
status snapshot and asks the liveness policy whether the scheduler is making progress; only
then does it send ``WATCHDOG=1``. A stuck lane or loop therefore stops the pings, and systemd
kills and restarts the service once ``WatchdogSec`` lapses: a watchdog fed by a timer alone
would keep a hung runtime "alive" forever. It also keeps ``STATUS=`` current.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from edge_runtime.runtime.health import Liveness, Verdict
from edge_runtime.runtime.status import RuntimeStatus
from edge_runtime.service.notify import Notifier

log = logging.getLogger("edge_runtime.service")

#: How often liveness is judged (and STATUS= refreshed) when systemd asks for no watchdog.
DEFAULT_PERIOD_S = 1.0


class Watchdog:
    def __init__(self, status: Callable[[], RuntimeStatus], notifier: Notifier,
                 liveness: Liveness, interval_s: float | None) -> None:
        self.status = status
        self.notifier = notifier
        self.liveness = liveness
        #: Pings go out only when systemd set a watchdog interval.
        self.pinging = interval_s is not None
        self.period_s = interval_s / 2 if interval_s is not None else DEFAULT_PERIOD_S
        self.pings = 0
        self.verdict = Verdict(True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    def start(self) -> None:
        self.check()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def check(self) -> Verdict:
        """Judge once: ping if alive, report the reason if not (logged once per episode)."""
        snapshot = self.status()
        verdict = self.liveness.alive(snapshot)
        if verdict.ok:
            if not self.verdict.ok:
                log.warning("the runtime makes progress again; watchdog pings resume")
            line = status_line(snapshot)
            if not self.pinging:
                self.notifier.status(line)
            elif self.notifier.send(WATCHDOG=1, STATUS=line):
                self.pings += 1
        else:
            if self.verdict.ok:
                log.error("%s: watchdog pings stop%s", verdict.reason,
                          " (systemd restarts the service once WatchdogSec lapses)"
                          if self.pinging else "")
            self.notifier.status(f"NOT MAKING PROGRESS: {verdict.reason}")
        self.verdict = verdict
        return verdict

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self.check()
            except Exception:  # a bug here must not look like a hang: log it, keep judging
                log.exception("the watchdog's check failed")


def status_line(status: RuntimeStatus) -> str:
    """``STATUS=`` for ``systemctl status``: mode, pipelines running, each one's rate."""
    running = sum(p.state == "running" for p in status.pipelines.values())
    rates = ", ".join(f"{name} {p.hz:.1f} Hz" + ("" if p.state == "running" else f" ({p.state})")
                      for name, p in status.pipelines.items())
    watts = f", {status.watts:.1f} W" if status.watts is not None else ""
    return (f"{status.power_mode}{watts}: {running}/{len(status.pipelines)} pipelines running"
            + (f": {rates}" if rates else ""))
