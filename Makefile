# The two commands of the README: `make demo` and `make test`. Each creates .venv with the
# tested dependency versions (constraints.txt) on first use, then runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edge-runtime-installed
# TensorRT API stubs for mypy: installed beside the venv's site-packages (not in it, so that
# `import tensorrt` never finds a stub-only package), then patched to parse (setup.cfg mypy_path).
TRT_STUBS_DIST := $(VENV)/tensorrt-stubs-dist
TRT_STUBS := $(VENV)/tensorrt-stubs-patched
# The ROS 2 venv (ROS 2 Kilted from PyPI wheels, vision_msgs built from its .msg files): made by
# tools/ros2_env.sh, remade when what it is made from changes.
ROS_VENV ?= .venv-ros
ROS_BIN := $(ROS_VENV)/bin
ROS_STAMP := $(ROS_VENV)/.edge-runtime-ros2-installed
ROS_INPUTS := setup.cfg pyproject.toml constraints.txt constraints-ros2.txt tools/ros2_env.sh \
	ros2_nodes/vendor/vision_msgs/CMakeLists.txt ros2_nodes/vendor/vision_msgs/package.xml \
	$(wildcard ros2_nodes/vendor/vision_msgs/msg/*.msg)
# The Triton venv (PyTriton's tritonserver, onnxruntime; Debian's python3.11, see
# tools/triton_env.sh): the server side of the triton backend's tests (tests/triton).
TRITON_VENV ?= .venv-triton
TRITON_STAMP := $(TRITON_VENV)/.edge-runtime-triton-installed

.PHONY: demo test lint typecheck unit install bench clean ros2 ros2-env ros2-typecheck ros2-unit \
	triton-env

demo: $(STAMP)
	$(BIN)/edge-runtime demo

test: lint typecheck unit ros2

# The ROS 2 half of the suite, in the ROS 2 venv: mypy against the installed rclpy, then the
# live-graph tests (tests/ros2).
ros2: ros2-typecheck ros2-unit

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/python -m mypy

unit: $(STAMP) $(TRITON_STAMP)
	EDGE_RUNTIME_TRITON_PYTHON=$(abspath $(TRITON_VENV))/bin/python \
		$(BIN)/python -m pytest --ignore=tests/ros2

ros2-env: $(ROS_STAMP)

triton-env: $(TRITON_STAMP)

ros2-typecheck: $(ROS_STAMP) $(STAMP)
	$(ROS_BIN)/python -m mypy edge_runtime/ros2 edge_runtime/pipelines/messages.py ros2_nodes/edge_runtime_ros tests/ros2

ros2-unit: $(ROS_STAMP)
	$(ROS_BIN)/python -m pytest tests/ros2

bench: $(STAMP)
	$(BIN)/python -m bench.overhead
	$(BIN)/python -m bench.int8
	$(BIN)/python -m bench.soak
	$(BIN)/python -m bench.mixed_criticality
	$(BIN)/python -m bench.batching
	$(BIN)/python -m bench.planner_speed

install: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "edge-runtime needs Python >= 3.10; set PYTHON=python3.10 or newer")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): setup.cfg pyproject.toml constraints.txt tools/patch_tensorrt_stubs.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps --upgrade -c constraints.txt \
		--target $(TRT_STUBS_DIST) tensorrt-stubs
	$(BIN)/python tools/patch_tensorrt_stubs.py $(TRT_STUBS_DIST) $(TRT_STUBS)
	@touch $(STAMP)

$(ROS_STAMP): $(ROS_INPUTS)
	bash tools/ros2_env.sh $(PYTHON) $(ROS_VENV)
	@touch $(ROS_STAMP)

$(TRITON_STAMP): tools/triton_env.sh constraints-triton.txt setup.cfg pyproject.toml
	bash tools/triton_env.sh $(TRITON_VENV)
	@touch $(TRITON_STAMP)

clean:
	rm -rf $(VENV) $(ROS_VENV) $(TRITON_VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
