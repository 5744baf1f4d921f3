"""The Triton Inference Server side: the bundled models (or any ONNX file) served by a real
``tritonserver`` through PyTriton, with onnxruntime inside, for tests, benchmarks and a fleet box.

- :mod:`edge_runtime.triton.server` runs *inside* the Triton venv (``make triton-env``, made from
  Debian's python3.11, whose libpython PyTriton's Python-backend stub links): it binds one
  onnxruntime session per model instance to Triton and serves until SIGTERM or SIGINT. It
  imports only the standard library, numpy, onnxruntime and pytriton (the last inside its
  functions, so the module still imports in the main venv).
- :mod:`edge_runtime.triton.launch` runs in the main venv: finds the Triton venv's Python,
  starts the server as a subprocess on free ports and waits until every model is ready
  (:class:`~edge_runtime.triton.launch.TritonServer`).
- :mod:`edge_runtime.triton.models` turns ENGINE arguments (recipes or ONNX files) into model
  specs; ``edge-runtime triton serve-models`` (:mod:`edge_runtime.cli.triton`) is the command.

The client, the ``triton`` backend whose runner sends a pipeline's frames to such a server, lives
in :mod:`edge_runtime.engines.backends.triton`. See docs/scale-out.md.
"""
