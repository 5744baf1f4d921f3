"""``edge-runtime power status | watch | set``: the module's mode, rails, temperatures and
clocks, read from sysfs (real on a Jetson; ``--sysfs-root`` reads a replicated tree), and
switching the mode through the same privilege path the service uses.

On a host that is not a Jetson every field is unknown and says why; nothing here fails for a
missing sensor. ``set`` is the one command that changes anything: it runs exactly ``sudo -n
nvpmodel -m N`` (or asks the power agent), after refusing switches that need a reboot.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from edge_runtime.cli.options import console
from edge_runtime.config.loading import bundled_profiles, load_power_profile
from edge_runtime.config.power import PowerProfile
from edge_runtime.errors import UserError
from edge_runtime.power.jetson import JetsonDevice, jetson_clocks_pinned, profile_notes
from edge_runtime.power.nvpmodel import (
    NVPMODEL_STATUS,
    NvpmodelConf,
    NvpmodelParseError,
    read_nvpmodel,
    read_nvpmodel_status,
)
from edge_runtime.power.switch import AGENT_SOCKET, NVPMODEL, AgentSwitch, SudoSwitch, SwitchError
from edge_runtime.power.telemetry import Telemetry, read_telemetry, telemetry_dict

NVPMODEL_CONF = Path("etc/nvpmodel.conf")


def add_parsers(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = actions.add_parser(
        "status", help="the module's mode, rails, temperatures and clocks",
        description="Read the power mode, INA3221 rails (W), thermal zones (°C), GPU/EMC/DLA "
                    "clocks and whether jetson_clocks pins them, from sysfs.")
    _add_root(status)
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(handler=handle_status)
    watch = actions.add_parser("watch", help="the same, live",
                               description="Sample the module every --interval seconds.")
    _add_root(watch)
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    watch.add_argument("--count", type=int, default=None,
                       help="stop after this many samples (default: until Ctrl-C)")
    watch.add_argument("--json", action="store_true", help="one JSON object per line")
    watch.set_defaults(handler=handle_watch)
    setter = actions.add_parser(
        "set", help="switch the power mode (sudo -n nvpmodel -m N)",
        description="Switch the module's power mode by name or id, resolved from the device's "
                    "own nvpmodel.conf. Runs exactly `sudo -n nvpmodel -m N` (the sudoers rule "
                    "install.sh writes), or asks the power agent with --agent. Switches that "
                    "need a reboot are refused.")
    setter.add_argument("mode", help="mode name (15W, MODE_30W, MAXN) or nvpmodel id")
    setter.add_argument("--device", default=None,
                        help="module profile (default: the shipped profile whose modes match "
                             "the device's nvpmodel.conf)")
    setter.add_argument("--conf", type=Path, default=Path("/") / NVPMODEL_CONF,
                        help="the device's nvpmodel.conf (default: /etc/nvpmodel.conf)")
    setter.add_argument("--agent", action="store_true",
                        help=f"ask the power agent at {AGENT_SOCKET} (what the sandboxed "
                             "service does) instead of running sudo")
    setter.add_argument("--nvpmodel", default=NVPMODEL, help=f"nvpmodel (default {NVPMODEL})")
    setter.add_argument("--json", action="store_true", help="print the result as JSON")
    setter.set_defaults(handler=handle_set)


def _add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sysfs-root", type=Path, default=Path("/"), metavar="DIR",
                        help="read sysfs, /etc/nvpmodel.conf and nvpmodel's status file under "
                             "DIR (a replicated tree) instead of /")


# --- reading -------------------------------------------------------------------------------------


def _conf(root: Path) -> NvpmodelConf | None:
    path = root / NVPMODEL_CONF
    if not path.is_file():
        return None
    try:
        return read_nvpmodel(path)
    except (OSError, NvpmodelParseError):
        return None


def snapshot(root: Path) -> dict[str, Any]:
    """Everything ``status`` reports, as plain data (the JSON)."""
    if not root.is_dir():
        raise UserError(f"--sysfs-root {root}: no such directory")
    telemetry = read_telemetry(root, psutil_stats=root == Path("/"))
    conf = _conf(root)
    status = read_nvpmodel_status(root / NVPMODEL_STATUS.relative_to("/")) \
        if (root / NVPMODEL_STATUS.relative_to("/")).is_file() else None
    mode_id = status.mode_id if status is not None else None
    mode = next((m for m in conf.modes if m.id == mode_id), None) if conf is not None else None
    return {
        "root": str(root),
        "power_mode": {"id": mode_id, "name": mode.name if mode is not None else None,
                       "source": "nvpmodel status file" if status is not None else None},
        "jetson_clocks": jetson_clocks_pinned(root),
        **_readings(telemetry),
    }


def _readings(telemetry: Telemetry) -> dict[str, Any]:
    data = telemetry_dict(telemetry)
    return {"module_w": data["module_w"], "rails_w": {
        name: rail["watts"] for name, rail in data["rails"].items()},
        "rails": data["rails"], "temperatures_c": data["temperatures_c"],
        "gpu_load": data["gpu_load"], "gpu_hz": data["gpu_hz"], "emc_hz": data["emc_hz"],
        "dla_hz": data["dla_hz"], "cpu_percent": data["cpu_percent"],
        "memory_used_bytes": data["memory_used_bytes"], "throttled": data["throttled"],
        "unknown": data["unknown"]}


def _fmt(value: float | None, scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
    return "unknown" if value is None else f"{value * scale:.{digits}f}{unit}"


def render(data: dict[str, Any]) -> Group:
    """The status as tables."""
    mode = data["power_mode"]
    top = Table(title=f"power status ({data['root']})", show_header=False)
    top.add_row("power mode", f"{mode['name']} (id {mode['id']})" if mode["id"] is not None
                else "unknown")
    pinned = data["jetson_clocks"]
    top.add_row("jetson_clocks", "unknown" if pinned is None else
                "pinning clocks" if pinned else "not pinning clocks")
    top.add_row("module power", _fmt(data["module_w"], unit=" W"))
    top.add_row("GPU", f"load {_fmt(data['gpu_load'], 100, 1, ' %')}, "
                       f"{_fmt(data['gpu_hz'], 1e-6, 0, ' MHz')}")
    top.add_row("EMC", _fmt(data["emc_hz"], 1e-6, 0, " MHz"))
    top.add_row("DLA", ", ".join(f"{k} {v / 1e6:.0f} MHz" for k, v in data["dla_hz"].items())
                or "unknown")
    top.add_row("throttled", "unknown" if data["throttled"] is None else str(data["throttled"]))
    rails = Table(title="rails")
    for column in ("rail", "V", "A", "W"):
        rails.add_column(column, justify="left" if column == "rail" else "right")
    for name, rail in data["rails"].items():
        rails.add_row(name, _fmt(rail["volts"], digits=3), _fmt(rail["amps"], digits=3),
                      _fmt(rail["watts"], digits=3))
    zones = Table(title="temperatures")
    zones.add_column("zone")
    zones.add_column("°C", justify="right")
    for name, celsius in data["temperatures_c"].items():
        zones.add_row(name, f"{celsius:.1f}")
    parts: list[Any] = [top, rails, zones]
    if data["unknown"]:
        parts.append(Text("unknown: " + "; ".join(data["unknown"])))
    return Group(*parts)


def handle_status(args: argparse.Namespace) -> int:
    data = snapshot(args.sysfs_root)
    if args.json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        console().print(render(data))
    return 0


def handle_watch(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise UserError("--interval must be positive (seconds between samples)")
    count = 0
    if args.json:
        while args.count is None or count < args.count:
            sys.stdout.write(json.dumps({"at": time.time(), **snapshot(args.sysfs_root)}) + "\n")
            sys.stdout.flush()
            count += 1
            if args.count is None or count < args.count:
                time.sleep(args.interval)
        return 0
    with Live(render(snapshot(args.sysfs_root)), console=console(),
              refresh_per_second=4) as live:
        count = 1
        try:
            while args.count is None or count < args.count:
                time.sleep(args.interval)
                live.update(render(snapshot(args.sysfs_root)))
                count += 1
        except KeyboardInterrupt:
            pass
    return 0


# --- switching -----------------------------------------------------------------------------------


def matching_profile(conf: NvpmodelConf) -> PowerProfile | None:
    """The shipped profile whose modes the device's conf has, unchanged (None: none does)."""
    for name in bundled_profiles():
        profile = load_power_profile(name)
        if not profile_notes(conf, profile):
            return profile
    return None


def handle_set(args: argparse.Namespace) -> int:
    try:
        conf = read_nvpmodel(args.conf)
    except OSError as exc:
        raise UserError(f"{args.conf}: {exc.strerror or exc} (is this a Jetson? pass --conf "
                        "for the device's nvpmodel.conf)") from None
    except NvpmodelParseError as exc:
        raise UserError(str(exc)) from None
    profile = load_power_profile(args.device) if args.device else matching_profile(conf)
    if profile is None:
        raise UserError(f"{args.conf}: its modes match no shipped profile; name the module "
                        "with --device (edge-runtime power list)")
    switch = AgentSwitch() if args.agent else SudoSwitch(args.nvpmodel)
    device = JetsonDevice(profile, switch, conf_path=args.conf, nvpmodel=args.nvpmodel)
    target = device.profile.resolve(args.mode)
    try:
        device.apply_mode(target)
    except SwitchError as exc:
        raise UserError(str(exc)) from None
    result = {"power_mode": target.name, "id": target.id, "notes": device.notes}
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        console().print(f"power mode {target.name} (id {target.id})")
    return 0
