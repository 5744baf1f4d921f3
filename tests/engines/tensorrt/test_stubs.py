"""The type check bites: mypy, with the project's configuration and the patched TensorRT 10.13
stubs, rejects a call to ``build_engine`` (gone in TensorRT 10) and accepts its correct twin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

FIXTURES = Path(__file__).parent / "fixtures"
STUBS = REPO / ".venv" / "tensorrt-stubs-patched" / "tensorrt" / "__init__.pyi"



def mypy(fixture: str) -> subprocess.CompletedProcess[str]:
    """mypy on one fixture, with setup.cfg (strict, mypy_path = the patched stubs); the
    fixture is passed explicitly, which mypy checks even though setup.cfg excludes it."""
    assert STUBS.is_file(), "no patched TensorRT stubs: run `make install` (see the Makefile)"
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(REPO / "setup.cfg"),
         "--no-incremental", "--cache-dir", "/dev/null", str(FIXTURES / fixture)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def test_build_engine_is_rejected() -> None:
    done = mypy("uses_build_engine.py")
    assert done.returncode == 1, done.stdout + done.stderr
    assert '"Builder" has no attribute "build_engine"' in done.stdout


def test_build_serialized_network_passes() -> None:
    done = mypy("uses_build_serialized_network.py")
    assert done.returncode == 0, done.stdout + done.stderr
