"""``edge-runtime power list``: the shipped power profiles and their modes (``status``,
``watch`` and ``set``: :mod:`edge_runtime.cli.power_status`).
``edge-runtime power agent``: the privileged half of power switching on a module
(:mod:`edge_runtime.power.switch`), run by ``edge-runtime-power.service``."""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path

from rich.table import Table

from edge_runtime.cli.options import console, log_for_journald
from edge_runtime.cli.power_status import add_parsers as add_status_parsers
from edge_runtime.config.loading import bundled_profiles, load_power_profile
from edge_runtime.config.recipe import Precision
from edge_runtime.power.switch import AGENT_SOCKET, NVPMODEL, SudoSwitch, serve_agent
from edge_runtime.sim.device_model import DeviceModel, Lane


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "power", help="power profiles and modes",
        description="Power profiles and modes; the module's mode, rails and temperatures; "
                    "switching the mode.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list profiles, or one profile's modes",
                                 description="List the shipped profiles, or with --device the "
                                             "modes of one module.")
    listing.add_argument("--device", default=None,
                         help="module name (e.g. jetson-agx-orin-32gb) or profile YAML path")
    listing.set_defaults(handler=handle_list)
    add_status_parsers(actions)
    agent = actions.add_parser(
        "agent", help="run the power agent (edge-runtime-power.service)",
        description="Accept power-mode numbers on a Unix socket and run exactly `sudo -n "
                    "nvpmodel -m N` for each: the service's unit is sandboxed and cannot run "
                    "sudo itself. Takes the socket from systemd (socket activation), else "
                    "binds --socket.")
    agent.add_argument("--socket", type=Path, default=AGENT_SOCKET,
                       help=f"socket path when not socket-activated (default: {AGENT_SOCKET})")
    agent.add_argument("--nvpmodel", default=NVPMODEL,
                       help=f"nvpmodel's path, as in the sudoers rule (default: {NVPMODEL})")
    agent.set_defaults(handler=handle_agent)


def _mhz(hz: float | None) -> str:
    return f"{hz / 1e6:.0f}" if hz else "-"


def handle_list(args: argparse.Namespace) -> int:
    out = console()
    if args.device is None:
        table = Table(title="power profiles")
        for column in ("device", "module", "modes (default *)"):
            table.add_column(column, overflow="fold")
        for name in bundled_profiles():
            profile = load_power_profile(name)
            modes = ", ".join(m.label + ("*" if m.id == profile.default_mode else "")
                              for m in profile.modes)
            table.add_row(name, profile.name, modes)
        out.print(table)
        return 0
    profile = load_power_profile(args.device)
    model = DeviceModel(profile)
    table = Table(title=f"{profile.name} power modes ({profile.nvpmodel_conf or 'profile'})")
    for column in ("id", "name", "budget W", "CPU cores", "CPU MHz", "GPU TPCs", "GPU MHz",
                   "DLA MHz", "EMC MHz", "GPU INT8 TOPS", "DLA INT8 TOPS"):
        table.add_column(column, justify="right" if column != "name" else "left", overflow="fold")
    for mode in profile.modes:
        clocks = model.clocks(mode)
        dla = sum(model.peak_ops(mode, lane, Precision.INT8)
                  for lane in (Lane.DLA0, Lane.DLA1)[: profile.hardware.dla_cores])
        table.add_row(
            str(mode.id) + ("*" if mode.id == profile.default_mode else ""), mode.name,
            f"{mode.budget_w:g}" if mode.budget_w else "-", str(mode.cpu_online),
            _mhz(clocks.cpu_hz), str(mode.gpu_tpcs), _mhz(clocks.gpu_hz),
            "/".join(_mhz(h) for h in clocks.dla_hz) or "-", _mhz(clocks.emc_hz),
            f"{model.peak_ops(mode, Lane.GPU, Precision.INT8) / 1e12:.1f}",
            f"{dla / 1e12:.1f}" if dla else "-")
    out.print(table)
    out.print("dense INT8 peak rates at the mode's clocks (sparse = 2x); * = default mode")
    return 0


#: The first file descriptor systemd passes (sd_listen_fds(3)).
LISTEN_FDS_START = 3


def handle_agent(args: argparse.Namespace) -> int:
    log_for_journald()
    listener = _activated_socket()
    if listener is None:
        args.socket.parent.mkdir(parents=True, exist_ok=True)
        args.socket.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(args.socket))
        args.socket.chmod(0o600)
        listener.listen(4)
    listener.settimeout(1.0)
    serve_agent(listener, SudoSwitch(args.nvpmodel))
    return 0


def _activated_socket() -> socket.socket | None:
    """The listening socket systemd handed over, if it did (``$LISTEN_FDS`` for this pid)."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
        return None
    return socket.socket(fileno=LISTEN_FDS_START)
