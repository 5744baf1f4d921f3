"""The service: a :class:`Runtime` hosted until stopped, speaking systemd's protocol.

Start: configure (every engine built or loaded), activate, then ``READY=1``. While running:
a watchdog thread pings only while the scheduler makes progress (``service.watchdog``), and
``/metrics``, ``/healthz`` and ``/readyz`` answer on one port (``service.http``). Signals are
turned into requests on the main thread, which does the work between them:

- ``SIGHUP``: ``RELOADING=1``, :meth:`Runtime.reload` of the same path (changed engines are
  built while the old ones run; unchanged pipelines, critical ones included, never stop), then
  ``READY=1``. A broken new config is refused with its one-line error; the old one keeps
  running.
- ``SIGTERM`` / ``SIGINT``: ``STOPPING=1``, then :meth:`Runtime.shutdown`: sources stop,
  in-flight frames finish, sinks are flushed and closed (JSON-lines renamed from ``.part``,
  MCAP finalised); exit 0.

Everything is injected (the runtime factory, the notifier, the fault hook), so tests run it in
a subprocess with a ``NOTIFY_SOCKET`` of their own, or in-process.
"""

from __future__ import annotations

import logging
import queue
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from edge_runtime.errors import UserError
from edge_runtime.runtime.health import Liveness, Verdict, ready
from edge_runtime.runtime.runtime import Runtime
from edge_runtime.service.http import EndpointServer
from edge_runtime.service.metrics import HISTOGRAM_QUEUE, registry_for
from edge_runtime.service.notify import Notifier
from edge_runtime.service.watchdog import Watchdog, status_line

log = logging.getLogger("edge_runtime.service")

#: Called with the runtime after configure and after every reload (fault injection in tests).
Hook = Callable[[Runtime], None]


@dataclass
class ServiceOptions:
    metrics_address: tuple[str, int] | None = ("127.0.0.1", 9477)
    liveness: Liveness = field(default_factory=Liveness)
    watchdog_interval_s: float | None = None
    hook: Hook | None = None


class Service:
    def __init__(self, pipelines: Path, runtime: Runtime, notifier: Notifier,
                 options: ServiceOptions | None = None) -> None:
        self.pipelines = pipelines
        self.runtime = runtime
        self.notifier = notifier
        self.options = options or ServiceOptions()
        self.watchdog = Watchdog(runtime.status, notifier, self.options.liveness,
                                 self.options.watchdog_interval_s)
        self.endpoints: EndpointServer | None = None
        self.reloads = 0
        self._requests: queue.SimpleQueue[signal.Signals] = queue.SimpleQueue()

    # --- what the endpoints and the watchdog judge -------------------------------------------

    def healthy(self) -> Verdict:
        return self.watchdog.verdict

    def ready(self) -> Verdict:
        return ready(self.runtime.status())

    # --- running -----------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGTERM / SIGINT; the exit status."""
        with self._signals():
            self._start()
            try:
                while True:
                    request = self._next_request()
                    if request == signal.SIGHUP:
                        self.reload()
                    elif request is not None:
                        log.info("%s: stopping", request.name)
                        break
            finally:
                self.stop()
        return 0

    def request(self, signum: signal.Signals) -> None:
        """Ask the main loop for a reload (SIGHUP) or a stop (anything else); any thread."""
        self._requests.put(signum)

    def _start(self) -> None:
        self.notifier.status("loading engines")
        started = time.monotonic()
        for info in self.runtime.configure(progress=_LogProgress()):
            state = "cache hit" if info.cache_hit else f"built in {info.build_seconds:.1f} s"
            log.info("engine %s for %s: %s on %s, %s, %s", info.engine, info.pipeline,
                     info.backend, info.lane, info.precision, state)
        self._run_hook()
        registry, histogram = registry_for(
            self.runtime, lambda: (self.healthy().ok, self.ready().ok))
        self.runtime.subscribe(histogram.observe, queue_size=HISTOGRAM_QUEUE)
        if self.options.metrics_address is not None:
            self.endpoints = EndpointServer(self.options.metrics_address, registry,
                                            self.healthy, self.ready)
            self.endpoints.start()
            host, port = self.endpoints.address
            log.info("metrics on http://%s:%d/metrics (and /healthz, /readyz)", host, port)
        self.runtime.activate()
        status = self.runtime.status()
        self.notifier.ready(status_line(status))
        self.watchdog.start()
        log.info("ready in %.1f s: %s", time.monotonic() - started, status_line(status))

    def reload(self) -> bool:
        """Reload the pipeline set from its path; False (and the old set running) if the new
        one is refused."""
        self.notifier.reloading()
        log.info("reloading %s", self.pipelines)
        try:
            report = self.runtime.reload(self.pipelines, progress=_LogProgress())
        except UserError as exc:
            log.error("reload refused, the running set is unchanged: %s", exc)
            accepted = False
        else:
            self.reloads += 1
            self._run_hook()
            log.info("reloaded: added %s, changed %s, removed %s, unchanged %s",
                     report.added or "-", report.changed or "-", report.removed or "-",
                     report.unchanged or "-")
            accepted = True
        self.notifier.ready(status_line(self.runtime.status()))
        return accepted

    def stop(self) -> None:
        self.notifier.stopping()
        started = time.monotonic()
        self.watchdog.stop()
        self.runtime.shutdown()
        if self.endpoints is not None:
            self.endpoints.close()
        log.info("stopped in %.2f s", time.monotonic() - started)

    def _run_hook(self) -> None:
        if self.options.hook is not None:
            self.options.hook(self.runtime)

    def _next_request(self) -> signal.Signals | None:
        try:  # a timeout, so a signal's Python handler gets to run promptly
            return self._requests.get(timeout=0.5)
        except queue.Empty:
            return None

    @contextmanager
    def _signals(self) -> Iterator[None]:
        def on_signal(signum: int, frame: object) -> None:
            del frame
            self.request(signal.Signals(signum))

        wanted = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.signal(sig, on_signal) for sig in wanted}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _LogProgress:
    """Engine-build progress as log lines (journald has no progress bars)."""

    def message(self, text: str) -> None:
        log.info("%s", text)

    def step(self, task: str, done: int, total: int) -> None:
        if done == total or done % max(total // 4, 1) == 0:
            log.info("%s: %d/%d", task, done, total)
