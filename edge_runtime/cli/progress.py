"""Progress of long work as rich progress bars (calibration, evaluation, sensitivity)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class RichProgress:
    """The ``edge_runtime.optimize.progress.Progress`` protocol, drawn with rich."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bars = Progress(TextColumn("{task.description:<12}"), BarColumn(),
                              MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                              transient=False)
        self._tasks: dict[str, TaskID] = {}

    def message(self, text: str) -> None:
        self._bars.console.log(text)

    def step(self, task: str, done: int, total: int) -> None:
        if task not in self._tasks:
            self._tasks[task] = self._bars.add_task(task, total=total)
        self._bars.update(self._tasks[task], completed=done, total=total)

    @contextmanager
    def shown(self) -> Iterator[RichProgress]:
        with self._bars:
            yield self
