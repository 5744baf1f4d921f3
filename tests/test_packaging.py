"""``pip install .`` ships what the runtime needs: a wheel, installed away from the checkout
and used from another directory, still finds the power profiles, recipes, models and demo set."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

CHECK = """
import edge_runtime, pathlib, sys
from edge_runtime.config import bundled_profiles, load_pipeline_set
from edge_runtime.config.assets import pipelines_dir
assert pathlib.Path(edge_runtime.__file__).is_relative_to(sys.argv[1]), edge_runtime.__file__
print(",".join(bundled_profiles()))
loaded = load_pipeline_set(pipelines_dir() / "demo.yaml")
print(",".join(sorted(r.onnx.name for r in loaded.recipes.values())))
from edge_runtime.pipelines.mcap_sink import MESSAGE_TYPES
from edge_runtime.pipelines.schemas import schema_text
print(",".join(str(schema_text(t).count("MSG: ")) for t in sorted(MESSAGE_TYPES.values())))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out),
                    str(REPO)], check=True, timeout=600, capture_output=True)
    (built,) = out.glob("edge_runtime-*.whl")
    return built


def test_the_wheel_carries_the_assets(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("edge_runtime/assets/power/jetson-agx-orin-32gb.yaml",
                     "edge_runtime/assets/pipelines/demo.yaml",
                     "edge_runtime/assets/engines/models/shapes_classifier.onnx",
                     "edge_runtime/py.typed",
                     # the MCAP schemas' .msg files; vision_msgs through its symlink
                     "edge_runtime/pipelines/msg/README.md",
                     "edge_runtime/pipelines/msg/std_msgs/Header.msg",
                     "edge_runtime/pipelines/msg/geometry_msgs/Quaternion.msg",
                     "edge_runtime/pipelines/msg/vision_msgs/Detection2DArray.msg"):
        assert expected in names, expected


def test_installed_package_works_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
                    str(target), str(wheel)], check=True, timeout=600, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, "-c", CHECK, str(target)], cwd=elsewhere,
                          env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    profiles, models, schemas = done.stdout.strip().splitlines()
    assert "jetson-agx-orin-32gb" in profiles.split(",")
    assert "shapes_detector.onnx" in models
    # sensor_msgs/Image, std_msgs/String (a command), vision_msgs Classification,
    # Detection2DArray: their dependencies
    assert schemas == "2,0,3,12"
