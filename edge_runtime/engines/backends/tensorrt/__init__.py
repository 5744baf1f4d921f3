"""The TensorRT backend: real engines on a Jetson's GPU and DLAs.

TensorRT exists only on the device (JetPack), so nothing here imports it at module level:
``import edge_runtime.engines.backends.tensorrt`` works everywhere, and :class:`TensorRTBuilder`
raises :class:`~edge_runtime.errors.MissingDependencyError` (exit 2 from the CLI) where TensorRT
is missing. Subclasses of TensorRT types (logger, calibrators, progress monitor) are created
inside factory functions, as Polygraphy does.

Modules, one concern each: :mod:`.versions` (one predicate per API difference between 8.4,
8.5, 10.x and 11), :mod:`.precision` (which precision switches a build uses, decided as data),
:mod:`.network` (flags, parsing, pinned layers, DLA placement), :mod:`.profiles`,
:mod:`.calibrator`, :mod:`.timing_cache`, :mod:`.progress`, :mod:`.logger`, :mod:`.cuda` (device
memory through cuda-python or pycuda), :mod:`.tensors` (engine I/O over both TensorRT I/O APIs),
:mod:`.builder` and :mod:`.runner`.

Why not Polygraphy's loaders (``NetworkFromOnnxBytes``, ``CreateConfig``, ``EngineFromNetwork``,
``TrtRunner``)? They would save perhaps 150 lines, and we read them closely (``backend/trt/
config.py``, ``loader.py``, ``calibrator.py``, ``runner.py``, ``util.py``) for the version
thresholds used here. But they bridge versions by probing at run time (``try: ... except
AttributeError``, ``mod.version(trt.__version__) > ...`` scattered through the code), their
signatures are untyped (everything we would get back is ``Any``), and several choices we need
differ: a UserError per failing ONNX node instead of ``G_LOGGER.critical``, a DLA placement
report in the manifest, a per-device timing cache file written atomically, calibration batches
shaped and checked from our own feeds, and TensorRT 11's strongly typed-only builds. Calling
``tensorrt`` directly lets mypy check every call against the TensorRT API stubs
(``make typecheck``), and each version branch is an explicit, tested predicate.
"""

from __future__ import annotations

from edge_runtime.engines.backends.tensorrt.builder import TensorRTBuilder
from edge_runtime.engines.backends.tensorrt.runner import TensorRTRunner
from edge_runtime.engines.backends.tensorrt.versions import tensorrt_version

__all__ = ["TensorRTBuilder", "TensorRTRunner", "tensorrt_version"]
