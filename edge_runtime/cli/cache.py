"""``edge-runtime cache ls | clear | verify``: look after the engine cache."""

from __future__ import annotations

import argparse

from rich.table import Table

from edge_runtime.cli.options import add_cache_option, console
from edge_runtime.engines.cache import EngineCache


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("cache", help="list, verify or clear the engine cache",
                                 description="Inspect and maintain the engine cache.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_text in (("ls", "list cached engines"),
                            ("verify", "check every entry's plan against its manifest"),
                            ("clear", "remove every cached engine")):
        action = actions.add_parser(name, help=help_text, description=help_text)
        add_cache_option(action)
        action.set_defaults(handler=handle, action=name)


def handle(args: argparse.Namespace) -> int:
    out = console()
    cache = EngineCache(args.cache_dir)
    if args.action == "clear":
        out.print(f"removed {cache.clear()} entries from {cache.root}")
        return 0
    statuses = cache.entries()
    table = Table(title=f"engine cache {cache.root}")
    for column in ("key", "engine", "backend", "precision", "lane", "plan bytes", "status"):
        table.add_column(column, overflow="fold")
    for status in statuses:
        m = status.manifest
        table.add_row(status.key, m.name if m else "?", m.backend if m else "?",
                      m.precision if m else "?", m.lane if m else "?",
                      str(m.plan_bytes) if m else "?", status.reason)
    out.print(table)
    damaged = [s for s in statuses if not s.ok]
    if args.action == "verify":
        out.print(f"{len(statuses) - len(damaged)} ok, {len(damaged)} damaged")
        return 1 if damaged else 0
    return 0
