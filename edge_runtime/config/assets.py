"""Where the shipped recipes, models, pipeline sets and power profiles live.

In a checkout they are the repository's ``engines/``, ``pipelines/`` and ``power/`` folders; the
package reaches them through the symlinks in ``edge_runtime/assets/``, which setuptools turns into
real files in a wheel, so an installed package finds them the same way from any directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def assets_dir() -> Path:
    return Path(str(resources.files("edge_runtime") / "assets"))


def power_dir() -> Path:
    return assets_dir() / "power"


def engines_dir() -> Path:
    return assets_dir() / "engines"


def pipelines_dir() -> Path:
    return assets_dir() / "pipelines"


def models_dir() -> Path:
    return engines_dir() / "models"
