#!/usr/bin/env bash
# The Triton venv of `make unit`: a venv of its own with PyTriton 0.7.0 (the real tritonserver
# with the Python backend, x86-64), onnxruntime and numpy, and edge-runtime itself, editable
# and without its dependencies, so `python -m edge_runtime.triton.server` runs the checkout's
# server (which imports only the standard library, numpy, onnxruntime and pytriton).
#
#   tools/triton_env.sh VENV        (TRITON_PYTHON=... to make it from another python3.11)
#
# It must be made from Debian's python3.11: PyTriton's Python-backend stub links the system
# libpython3.11, and under another 3.11 build (pyenv's, first on PATH) the model fails to load
# with "'_thread.RLock' object has no attribute '_recursion_count'".
set -euo pipefail

VENV=${1:?usage: tools/triton_env.sh VENV}
PYTHON=${TRITON_PYTHON:-/usr/bin/python3.11}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "triton env: $*"; }

if [ ! -x "$PYTHON" ]; then
  if [ -z "${TRITON_PYTHON:-}" ]; then
    echo "the Triton venv needs Debian's python3.11 (apt-get install python3.11 python3.11-venv)" >&2
  else
    echo "TRITON_PYTHON=$TRITON_PYTHON is not an executable Python" >&2
  fi
  exit 1
fi
# The Python must be a 3.11 whose libpython is the one the dynamic loader finds for the stub.
"$PYTHON" - <<'PY'
import os, shutil, subprocess, sys, sysconfig
if sys.version_info[:2] != (3, 11):
    sys.exit(f"{sys.executable} is Python {sys.version.split()[0]}; PyTriton's Python-backend "
             "stub links libpython3.11: use Debian's python3.11 (TRITON_PYTHON unset)")
lib = os.path.join(sysconfig.get_config_var("LIBDIR") or "", sysconfig.get_config_var("INSTSONAME") or "")
ldconfig = shutil.which("ldconfig") or shutil.which("ldconfig", path="/sbin:/usr/sbin")
found = None
if ldconfig:
    for line in subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout.splitlines():
        name, _, where = line.strip().partition(" => ")
        if name.startswith("libpython3.11.so.1.0 "):
            found = where
            break
if not os.path.isfile(lib) or found is None or os.path.realpath(found) != os.path.realpath(lib):
    sys.exit(f"{sys.executable}'s libpython ({lib}) is not the system libpython3.11 "
             f"({found or 'none found by ldconfig'}) that PyTriton's stub loads: use Debian's "
             "python3.11 (apt-get install python3.11 python3.11-venv)")
PY
# A venv of another Python (TRITON_PYTHON changed since, or made from pyenv's 3.11) is made
# afresh: the stub would load a libpython that is not its interpreter's.
origin='import sys; print(sys.base_prefix, sys.version)'
if [ -x "$VENV/bin/python" ] &&
  [ "$("$VENV/bin/python" -c "$origin")" != "$("$PYTHON" -c "$origin")" ]; then
  say "$VENV is of another Python: making it afresh"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || {
    echo "cannot make a venv with $PYTHON (apt-get install python3.11-venv)" >&2; exit 1; }
fi
VENV=$(cd "$VENV" && pwd)
export PIP_ROOT_USER_ACTION=ignore  # CI installs as root, into the venv: nothing to warn about
PIP=("$VENV/bin/python" -m pip install --quiet -c "$ROOT/constraints-triton.txt")

say "installing PyTriton, onnxruntime and edge-runtime (about 125 MB to download, 450 MB installed)"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"${PIP[@]}" nvidia-pytriton onnxruntime numpy
"${PIP[@]}" --no-deps -e "$ROOT"

say "checking the environment"
"$VENV/bin/python" - <<'PY'
import os, subprocess, sys, sysconfig
import numpy, onnxruntime, pytriton.triton, pytriton.decorators, tritonclient.grpc
import edge_runtime.triton.server
stub = os.path.join(os.path.dirname(pytriton.__file__), "tritonserver", "python_backend_stubs",
                    "3.11", "triton_python_backend_stub")
lib = os.path.realpath(os.path.join(sysconfig.get_config_var("LIBDIR"),
                                    sysconfig.get_config_var("INSTSONAME")))
linked = [line.split("=>")[1].split()[0] for line in
          subprocess.run(["ldd", stub], capture_output=True, text=True).stdout.splitlines()
          if "libpython3.11" in line and "=>" in line]
if [os.path.realpath(path) for path in linked] != [lib]:
    sys.exit(f"PyTriton's stub {stub} loads {linked or 'no libpython3.11'}, not this "
             f"interpreter's {lib}")
PY
say "ready: $VENV ($(du -sh "$VENV" | cut -f1))"
