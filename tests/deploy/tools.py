"""Host tools the deploy tests need, from Debian's packages when missing (CI runs as root)."""

from __future__ import annotations

import shutil

import pytest

from tests.deploy.container import CannotRunError, install_host_tools, log


def require(tools: dict[str, str]) -> None:
    """Install missing ``{command: debian package}``; skip, saying why, when that is
    impossible here (not root, no apt-get)."""
    try:
        install_host_tools(tools)
    except CannotRunError as reason:
        log(f"NOT RUN on this machine: {reason}")
        pytest.skip(str(reason))
    assert all(shutil.which(tool) for tool in tools)
