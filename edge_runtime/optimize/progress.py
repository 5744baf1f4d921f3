"""How long work reports progress, without knowing who shows it (the CLI draws rich bars)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def message(self, text: str) -> None:
        """A one-off line: what is happening now."""

    def step(self, task: str, done: int, total: int) -> None:
        """``done`` of ``total`` units of ``task`` are finished."""


class QuietProgress:
    """Reports nothing (library use, tests)."""

    def message(self, text: str) -> None:
        del text

    def step(self, task: str, done: int, total: int) -> None:
        del task, done, total
