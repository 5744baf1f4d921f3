"""``edge-runtime serve PIPELINES``: run a pipeline set as a long-running service.

What systemd's ``ExecStart=`` runs (``deploy/jetson/edge-runtime.service``): no live table,
log lines for journald, sd_notify when ``$NOTIFY_SOCKET`` is set, metrics and health on
127.0.0.1, SIGHUP reloads, SIGTERM stops cleanly (:mod:`edge_runtime.service.service`).
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from edge_runtime.cli.options import add_runtime_options, log_for_journald, runtime_options
from edge_runtime.cli.run import check_flag_modes, check_no_ros2_sources
from edge_runtime.config.loading import load_pipeline_set
from edge_runtime.config.power import PowerProfile
from edge_runtime.errors import UserError
from edge_runtime.power.jetson import JetsonDevice
from edge_runtime.power.nvpmodel import NvpmodelParseError
from edge_runtime.power.switch import AgentSwitch
from edge_runtime.runtime.health import Liveness
from edge_runtime.runtime.runtime import Runtime
from edge_runtime.service.http import DEFAULT_ADDRESS, parse_address
from edge_runtime.service.notify import Notifier, watchdog_interval_s
from edge_runtime.service.service import Hook, Service, ServiceOptions


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve", help="run a pipeline set as a service (systemd, metrics, reload)",
        description="Run every pipeline of a pipeline set until stopped: READY/WATCHDOG/"
                    "STATUS to systemd when $NOTIFY_SOCKET is set, Prometheus metrics and "
                    "/healthz, /readyz over HTTP, SIGHUP reloads the set, SIGTERM drains and "
                    "exits 0.")
    parser.add_argument("pipelines", type=Path, help="pipeline set YAML (pipelines/*.yaml)")
    parser.add_argument("--metrics", default=DEFAULT_ADDRESS, metavar="HOST:PORT",
                        help=f"where /metrics, /healthz and /readyz listen (default: "
                             f"{DEFAULT_ADDRESS}; port 0 picks one; 'off' for none)")
    parser.add_argument("--lane-timeout", type=float, default=Liveness.lane_timeout_s,
                        metavar="S", help="a lane running one inference longer than this is "
                        "stuck: watchdog pings stop (default: %(default)s)")
    add_runtime_options(parser)
    parser.add_argument("--power-device", choices=("simulated", "jetson"), default="simulated",
                        help="simulated: the simulated Jetson (default; any host); jetson: this "
                             "module's own nvpmodel.conf, nvpmodel and sensors, switching "
                             "through the power agent (docs/power.md)")
    parser.add_argument("--fault-hook", default=None, metavar="FILE[:FUNCTION]",
                        help="testing: a Python file whose FUNCTION (default: install) is "
                             "called with the Runtime after configure and each reload, to "
                             "inject faults")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    metrics = None if args.metrics == "off" else parse_address(args.metrics)
    if args.lane_timeout <= 0:
        raise UserError(f"--lane-timeout must be positive, got {args.lane_timeout}")
    hook = load_hook(args.fault_hook) if args.fault_hook else None
    options = runtime_options(args)
    loaded = load_pipeline_set(args.pipelines)
    check_flag_modes(loaded, options)
    check_no_ros2_sources(loaded)
    log_for_journald(args.verbose)
    device = jetson_device(loaded.profile) if args.power_device == "jetson" else None
    service = Service(args.pipelines,
                      Runtime(loaded, clock="wall", options=options, device=device),
                      Notifier.from_environment(),
                      ServiceOptions(metrics, Liveness(lane_timeout_s=args.lane_timeout),
                                     watchdog_interval_s(), hook))
    return service.run()


def jetson_device(profile: PowerProfile) -> JetsonDevice:
    """This module as a power device: its own ``/etc/nvpmodel.conf``, ``nvpmodel -q``, sysfs
    sensors, and switches through the power agent (the service's unit is sandboxed)."""
    try:
        return JetsonDevice(profile, AgentSwitch())
    except (OSError, NvpmodelParseError) as exc:
        raise UserError(f"--power-device jetson: {exc} (is this a Jetson with "
                        "/etc/nvpmodel.conf? use --power-device simulated elsewhere)") from None


def load_hook(spec: str) -> Hook:
    """``FILE[:FUNCTION]`` -> the function (default name ``install``)."""
    path_text, sep, name = spec.partition(":")
    path = Path(path_text)
    module_spec = importlib.util.spec_from_file_location("edge_runtime_fault_hook", path)
    if not path.is_file() or module_spec is None or module_spec.loader is None:
        raise UserError(f"{path}: no such Python file", key="--fault-hook")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    hook = getattr(module, name if sep else "install", None)
    if not callable(hook):
        raise UserError(f"{path} has no function {name if sep else 'install'}",
                        key="--fault-hook")
    return hook  # type: ignore[no-any-return]
