"""Fixtures of the live ROS 2 graph tests (run in the ROS 2 venv: ``make ros2-unit``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ros2.graph import Graph, domain_id, ros_env


@pytest.fixture(scope="session")
def engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One engine cache for every node process of the run: the first builds, the rest load."""
    return tmp_path_factory.mktemp("engines")


@pytest.fixture(scope="session")
def env(engine_cache: Path) -> dict[str, str]:
    return ros_env(domain_id(), engine_cache)


@pytest.fixture(scope="module")
def graph() -> Iterator[Graph]:
    live = Graph(domain_id())
    yield live
    live.close()
