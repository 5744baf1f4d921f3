"""Which TensorRT is this, and what can it do?

Every version-dependent branch of the backend asks one predicate here, never ``hasattr`` (the way
Polygraphy probes with ``try: ... except AttributeError``): a predicate names the release that
introduced or removed the API, is unit-tested at the boundary versions, and lets mypy check each
branch against the API it calls. The releases that matter on a Jetson:

========  =============  ==============================================================
JetPack   TensorRT       what changes for us
========  =============  ==============================================================
5.0.2     8.4.1          oldest supported: memory pools, bindings API (execute_async_v2)
5.1.x     8.5.2          named I/O tensors, ``set_input_shape``, ``execute_async_v3``
6.0       8.6.2          as 8.5
6.1, 6.2  10.3           ``build_engine`` and bindings removed; implicit batch gone;
                         ``IProgressMonitor``; calibrators deprecated from 10.1
(none)    11.x           strongly typed only: FP16/INT8 builder flags, precision
                         constraints and INT8 calibrators removed (Q/DQ or nothing); no
                         DLA support (the 11.0 and 11.1 documentation)
========  =============  ==============================================================

The release facts (L4T, CUDA, Python, DLA, cuda-python) are one table, :mod:`edge_runtime.jetpack`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType

from edge_runtime.errors import UserError
from edge_runtime.jetpack import FIRST_TENSORRT_WITHOUT_DLA

_NUMBERS = re.compile(r"\d+")


@dataclass(frozen=True, order=True)
class TrtVersion:
    """A TensorRT version, compared numerically (``8.5.0.9 < 8.5.2.2 < 10.0.1``)."""

    major: int
    minor: int = 0
    patch: int = 0
    build: int = 0

    @classmethod
    def parse(cls, text: str) -> TrtVersion:
        """``tensorrt.__version__`` as a version: its first four numbers, letters and local
        suffixes ignored (``10.0.0b6`` -> 10.0.0.6, ``10.3.0.30+cuda12`` -> 10.3.0.30)."""
        numbers = [int(n) for n in _NUMBERS.findall(text.split("+", maxsplit=1)[0])][:4]
        if not numbers:
            raise ValueError(f"not a TensorRT version: {text!r}")
        return cls(*numbers)

    def __str__(self) -> str:
        return ".".join(str(n) for n in (self.major, self.minor, self.patch, self.build))

    @property
    def short(self) -> str:
        return f"{self.major}.{self.minor}"

    # -- predicates: one per API difference -------------------------------------------------

    @property
    def is_supported(self) -> bool:
        """8.4 (JetPack 5.0.2) and newer. Older releases (JetPack 4, Python 3.6) lack memory
        pools and cannot run edge-runtime's Python anyway."""
        return self >= TrtVersion(8, 4)

    @property
    def has_memory_pools(self) -> bool:
        """``IBuilderConfig.set_memory_pool_limit`` (8.4+); before it, ``max_workspace_size``."""
        return self >= TrtVersion(8, 4)

    @property
    def has_named_tensor_io(self) -> bool:
        """Named I/O tensors: ``num_io_tensors``, ``get_tensor_name``, ``set_input_shape``,
        ``set_tensor_address`` and ``execute_async_v3``. Complete from 8.5.1 GA (JetPack 5.1);
        Polygraphy uses the same threshold (``> 8.5.0.9``). Older: bindings + ``execute_async_v2``
        (removed in 10.0)."""
        return self > TrtVersion(8, 5, 0, 9)

    @property
    def has_build_engine(self) -> bool:
        """``Builder.build_engine`` exists before 10.0; we never call it (we always call
        ``build_serialized_network``, 8.0+), the predicate only documents why."""
        return self.major < 10

    @property
    def needs_explicit_batch_flag(self) -> bool:
        """Before 10.0 a network is implicit-batch unless created with ``EXPLICIT_BATCH``; from
        10.0 every network is explicit-batch and the flag is deprecated."""
        return self.major < 10

    @property
    def has_strongly_typed_networks(self) -> bool:
        """``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` (10.0 on Jetson; 9.x was x86-only)."""
        return self.major >= 10

    @property
    def has_weak_typing(self) -> bool:
        """Precision builder flags (``FP16``, ``INT8``), per-layer precision and
        ``OBEY_PRECISION_CONSTRAINTS``: removed in 11.0, where every network is strongly typed
        and precision comes from the ONNX's types and Q/DQ nodes."""
        return self.major < 11

    @property
    def implicit_int8_deprecated(self) -> bool:
        """INT8 calibrators (``IInt8EntropyCalibrator2`` ...) are deprecated from 10.1."""
        return self >= TrtVersion(10, 1)

    @property
    def has_implicit_int8(self) -> bool:
        """``IBuilderConfig.int8_calibrator`` and the calibrator classes: removed in 11.0."""
        return self.major < 11

    @property
    def has_dla(self) -> bool:
        """Builds for the DLA cores: through 10.x; TensorRT 11.0/11.1 do not support DLA."""
        return self.major < FIRST_TENSORRT_WITHOUT_DLA

    @property
    def has_progress_monitor(self) -> bool:
        """``IProgressMonitor`` / ``IBuilderConfig.progress_monitor`` (10.0+)."""
        return self.major >= 10


def import_tensorrt() -> ModuleType | None:
    """The ``tensorrt`` module, or None where it is not installed.

    A stub-only or broken install (``tensorrt-stubs`` puts ``tensorrt/__init__.pyi`` without a
    module, which Python imports as an empty namespace package) counts as not installed.
    """
    try:
        import tensorrt
    except ImportError:
        return None
    return tensorrt if isinstance(getattr(tensorrt, "__version__", None), str) else None


def tensorrt_version() -> str | None:
    """The installed TensorRT version, or None when TensorRT is not importable."""
    module = import_tensorrt()
    return None if module is None else str(module.__version__)


def require_supported(version: TrtVersion) -> TrtVersion:
    """``version``, or a UserError for a TensorRT this backend does not drive."""
    if not version.is_supported:
        raise UserError(f"TensorRT {version.short} is older than 8.4, the oldest this backend "
                        "supports (JetPack 5.0.2); upgrade JetPack or use --backend onnxruntime",
                        key="backend")
    return version
