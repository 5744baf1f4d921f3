"""A tiny-classifier pipeline set for serve, and a ServeProcess that is always cleaned up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.service.serve import ServeProcess, write_set

StartServe = Callable[..., ServeProcess]


@pytest.fixture
def serve_set(tiny_recipe: Path, tmp_path: Path) -> Path:
    del tiny_recipe
    return write_set(tmp_path)


@pytest.fixture
def start_serve(tmp_path: Path) -> Iterator[StartServe]:
    started: list[ServeProcess] = []

    def _start(pipelines: Path, **kwargs: object) -> ServeProcess:
        process = ServeProcess(pipelines, tmp_path, **kwargs)  # type: ignore[arg-type]
        started.append(process)
        return process

    yield _start
    for process in started:
        process.close()


from tests.runtime.conftest import make_runtime  # noqa: E402,F401  (the runtime tests' fixture)
