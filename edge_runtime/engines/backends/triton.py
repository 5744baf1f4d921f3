"""The triton backend: a pipeline's engine runs as a model on a Triton Inference Server.

Nothing is built on the module. The builder connects to the server (``recipe.triton.url``) and
reads the model's metadata and config. It checks them against the recipe's ONNX, which stays
the contract the pipeline's preprocess and decode are written for: every input and output by
name, data type and fixed dimensions. A mismatch is one line naming both sides. The "plan" it
caches is the server's identity and the model version it will run, so a new version on the
server is a new cache key and is checked again.

The runner sends each inference over gRPC (``tritonclient.grpc``), under the same ``infer``
contract as the local runners:

- The request's timeout is the time left to the frame's deadline (``timeout_s``, set per job by
  the session), else the recipe's ``timeout_ms``.
- A request the server never got (gRPC ``UNAVAILABLE``) is resent up to ``retries`` times
  within that timeout. Inference of a stateless model is idempotent, so a resend is safe. A
  timed-out request is never resent: its deadline is spent and the server may still run it.
- A server that stays unreachable, or a model it no longer serves, raises
  :class:`~edge_runtime.engines.base.EngineUnavailableError`. The session then falls back to a local
  variant and probes the server (:meth:`TritonRunner.probe`) until it is back.

``last_device_time_s`` is the measured round trip: network plus queueing plus server compute.
That is the lane time a frame spends offloaded, so the cost model counts the network measured,
not assumed. ``tritonclient`` is imported when a builder or runner is made (the ``triton``
extra).
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from edge_runtime.config.recipe import EngineRecipe, TritonConfig
from edge_runtime.engines.artifact import Artifact, Manifest
from edge_runtime.engines.base import (
    BaseRunner,
    BuildRequest,
    EngineBuilder,
    MessageFn,
    base_manifest_fields,
)
from edge_runtime.engines.specs import engine_input_specs, engine_output_specs
from edge_runtime.errors import EngineUnavailableError, UserError
from edge_runtime.graph.tensors import Feed, Outputs, TensorSpec

#: Seconds the builder and a probe wait for the server's answers (metadata, readiness).
CONTROL_TIMEOUT_S = 5.0
#: gRPC status of a request that never reached a server (refused, reset, no route).
UNAVAILABLE = "StatusCode.UNAVAILABLE"
DEADLINE_EXCEEDED = "StatusCode.DEADLINE_EXCEEDED"
NOT_FOUND = "StatusCode.NOT_FOUND"


def lane_of(server: TritonConfig) -> str:
    """The lane of the engines on one server: it is a resource of its own, apart from the
    module's GPU and DLAs, and it never draws module power."""
    return f"triton@{server.address}"


def server_config(recipe: EngineRecipe) -> TritonConfig:
    if recipe.triton is None:
        raise UserError(f"recipe {recipe.name or recipe.onnx} runs on backend triton but names "
                        "no server; add triton: {url: HOST:PORT, model: NAME}", key="triton")
    return recipe.triton


def model_name(recipe: EngineRecipe) -> str:
    server = server_config(recipe)
    return server.model or recipe.name or recipe.onnx.stem


def connect(address: str) -> Any:
    import tritonclient.grpc as grpcclient

    return grpcclient.InferenceServerClient(url=address)


def unreachable(address: str, exc: Exception) -> str:
    """One line saying why the server at ``address`` cannot be used."""
    message = _message(exc)
    return f"triton server {address} unreachable: {message}"


def _message(exc: Exception) -> str:
    text = exc.message() if hasattr(exc, "message") and callable(exc.message) else str(exc)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _status(exc: Exception) -> str | None:
    status = getattr(exc, "status", None)
    return str(status()) if callable(status) else None


def _is_server_error(exc: Exception) -> bool:
    from tritonclient.utils import InferenceServerException

    return isinstance(exc, InferenceServerException)


class TritonBuilder(EngineBuilder):
    """Checks the served model against the recipe and records which version will run."""

    backend = "triton"

    def __init__(self, recipe: EngineRecipe) -> None:
        self.server = server_config(recipe)
        self.model = model_name(recipe)
        self._identity: dict[str, str] | None = None
        self._metadata: dict[str, Any] = {}
        self._config: dict[str, Any] = {}

    def identity(self) -> dict[str, str]:
        """The server's version and the model version it serves (part of the cache key):
        asked once per builder, since every answer costs a round trip."""
        if self._identity is None:
            self._identity = self._ask_server()
        return self._identity

    def _ask_server(self) -> dict[str, str]:
        address = self.server.address
        client = connect(address)
        try:
            server = client.get_server_metadata(as_json=True, client_timeout=CONTROL_TIMEOUT_S)
            self._metadata = client.get_model_metadata(
                self.model, self.server.version, as_json=True, client_timeout=CONTROL_TIMEOUT_S)
            self._config = client.get_model_config(
                self.model, self.server.version, as_json=True,
                client_timeout=CONTROL_TIMEOUT_S).get("config", {})
        except Exception as exc:
            if not _is_server_error(exc):
                raise
            if _status(exc) in (UNAVAILABLE, DEADLINE_EXCEEDED):
                raise EngineUnavailableError(unreachable(address, exc)) from None
            raise UserError(f"triton server {address} has no model '{self.model}'"
                            f"{' version ' + self.server.version if self.server.version else ''}"
                            f": {_message(exc)} (its name on the server goes in triton.model)",
                            key="triton.model") from None
        finally:
            client.close()
        versions = [str(v) for v in self._metadata.get("versions", [])]
        version = self.server.version or max(versions, key=_version_order, default="")
        return {"version": f"triton {server.get('version', 'unknown')}",
                "device": f"{address}/{self.model}@{version or 'latest'}",
                "model_version": version}

    def build(self, request: BuildRequest, progress: MessageFn | None = None) -> Artifact:
        started = time.perf_counter()
        identity = self.identity()
        if progress:
            progress(f"checking {self.model} on triton server {self.server.address}")
        inputs = engine_input_specs(request.model, request.recipe)
        outputs = engine_output_specs(request.costed_model, request.input_shapes)
        served = {t["name"]: t for t in self._metadata.get("inputs", [])}
        served_out = {t["name"]: t for t in self._metadata.get("outputs", [])}
        for spec in inputs:
            self._check("input", spec, served)
        for spec in outputs:
            self._check("output", spec, served_out)
        max_batch = int(self._config.get("max_batch_size", 0) or 0)
        plan = json.dumps({"url": self.server.address, "model": self.model,
                           "version": identity["model_version"],
                           "server_version": identity["version"],
                           "platform": self._metadata.get("platform", ""),
                           "max_batch_size": max_batch}, sort_keys=True).encode()
        notes = [f"runs on triton server {self.server.address} as {self.model} version "
                 f"{identity['model_version'] or 'latest'} "
                 f"({self._metadata.get('platform', 'unknown platform')}, server max batch "
                 f"{max_batch or 'none'}); precision is the server's"]
        fields = base_manifest_fields(request, self, plan, started)
        manifest = Manifest(
            **fields, lane=lane_of(self.server), inputs=inputs, outputs=outputs, notes=notes,
            backend_options={"url": self.server.address, "model": self.model,
                             "version": identity["model_version"],
                             "max_batch_size": max_batch,
                             "timeout_s": self.server.timeout_ms / 1e3,
                             "retries": self.server.retries})
        return Artifact(plan=plan, manifest=manifest)

    def _check(self, kind: str, spec: TensorSpec, served: dict[str, Any]) -> None:
        """``spec`` (the recipe's ONNX) against the server's tensor of that name."""
        from tritonclient.utils import np_to_triton_dtype

        where = f"model '{self.model}' on triton server {self.server.address}"
        tensor = served.get(spec.name)
        if tensor is None:
            raise UserError(f"{where} has no {kind} '{spec.name}' (it has "
                            f"{sorted(served)}); serve the same model as the recipe's ONNX",
                            key="triton.model")
        dtype = np_to_triton_dtype(spec.numpy_dtype)
        shape = [int(d) for d in tensor.get("shape", [])]
        if tensor.get("datatype") != dtype or len(shape) != len(spec.shape) or any(
                isinstance(mine, int) and theirs > 0 and mine != theirs
                for mine, theirs in zip(spec.shape, shape, strict=True)):
            raise UserError(f"{where} takes {kind} {spec.name} as {tensor.get('datatype')}"
                            f"{shape}, but the recipe's ONNX has {dtype}{spec.shape}; serve "
                            "the same model as the recipe's ONNX", key="triton.model")


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (-1, version)


class TritonRunner(BaseRunner):
    """One model on one Triton server, over gRPC (module docstring)."""

    remote = True

    def __init__(self, artifact: Artifact) -> None:
        super().__init__(artifact, artifact.manifest.lane)
        options = artifact.manifest.backend_options
        self.address = str(options["url"])
        self.model = str(options["model"])
        self.version = str(options.get("version", ""))
        self.default_timeout_s = float(options.get("timeout_s", 1.0))
        self.retries = int(options.get("retries", 1))
        self.server_max_batch = int(options.get("max_batch_size", 0))
        self._client: Any = None
        self._output_names = [o.name for o in artifact.manifest.outputs]
        self._requested: list[Any] = []

    @property
    def max_batch(self) -> int:
        """The recipe's batch, capped at the server's ``max_batch_size``."""
        largest = super().max_batch
        return min(largest, self.server_max_batch) if self.server_max_batch else 1

    def activate_impl(self) -> None:
        import tritonclient.grpc as grpcclient

        self._client = connect(self.address)
        self._requested = [grpcclient.InferRequestedOutput(name) for name in self._output_names]
        reason = self._ready(self._client)
        if reason is not None:
            self._close()
            raise EngineUnavailableError(reason)

    def deactivate_impl(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def reconnect(self) -> None:
        """A fresh channel: gRPC backs a failed channel off for up to two minutes before it
        tries again, which would keep a server that is back looking down."""
        self._close()
        self._client = connect(self.address)

    def probe(self) -> str | None:
        client = connect(self.address)
        try:
            return self._ready(client)
        finally:
            client.close()

    def _ready(self, client: Any) -> str | None:
        try:
            if not client.is_model_ready(self.model, self.version,
                                         client_timeout=CONTROL_TIMEOUT_S):
                return (f"model {self.model} is not ready on triton server {self.address}")
        except Exception as exc:
            if not _is_server_error(exc):
                raise
            return unreachable(self.address, exc)
        return None

    def infer_impl(self, feed: Feed) -> Outputs:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import np_to_triton_dtype

        inputs = []
        for name, array in feed.items():
            item = grpcclient.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
            item.set_data_from_numpy(np.ascontiguousarray(array))
            inputs.append(item)
        budget = self.timeout_s if self.timeout_s is not None else self.default_timeout_s
        started = time.perf_counter()
        result = self._send(inputs, started, budget)
        self.last_device_time_s = time.perf_counter() - started
        return {name: result.as_numpy(name) for name in self._output_names}

    def _send(self, inputs: list[Any], started: float, budget: float) -> Any:
        attempt = 0
        while True:
            left = budget - (time.perf_counter() - started)
            if left <= 0:
                raise TimeoutError(f"{self.model} on triton server {self.address}: no answer "
                                   f"within {budget * 1e3:.0f} ms")
            try:
                return self._client.infer(self.model, inputs, model_version=self.version,
                                          outputs=self._requested, client_timeout=left)
            except Exception as exc:
                if not _is_server_error(exc):
                    raise
                status = _status(exc)
                if status == DEADLINE_EXCEEDED:
                    raise TimeoutError(f"{self.model} on triton server {self.address}: no "
                                       f"answer within {budget * 1e3:.0f} ms") from None
                if status == UNAVAILABLE and attempt < self.retries:
                    attempt += 1
                    continue
                if status in (UNAVAILABLE, NOT_FOUND) or "unknown model" in _message(exc):
                    raise EngineUnavailableError(unreachable(self.address, exc)
                                            if status == UNAVAILABLE else
                                            f"triton server {self.address}: "
                                            f"{_message(exc)}") from None
                raise RuntimeError(f"{self.model} on triton server {self.address}: "
                                   f"{_message(exc)}") from None
