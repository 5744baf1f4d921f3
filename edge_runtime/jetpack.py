"""The one table of JetPack releases: L4T, TensorRT, CUDA, Python, DLA, the cuda-python to pin.

Code and docs read the same facts from here (``docs/jetson-build.md`` carries this table, and a
test checks that it matches): the TensorRT version a calibration cache is tagged for by default,
whether a TensorRT release can build for a DLA, and which cuda-python fits a module. Sources:
NVIDIA's JetPack release pages and the TensorRT release notes (JetPack 6.0 ships TensorRT
8.6.2, 6.1 and 6.2 ship 10.3; TensorRT 11.0/11.1 do not support DLA), and the cuda-python
release notes (13.0 removed ``cuda.cudart`` and links the CUDA 13 runtime; 12.9.11 dropped
Python 3.10). Not checked on modules: no Jetson was at hand.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JetPackRelease:
    """One JetPack release line for Orin modules."""

    jetpack: str
    l4t: str
    tensorrt: str
    cuda: str
    python: str
    #: Whether this release's TensorRT builds for the DLA cores.
    dla: bool
    #: The cuda-python requirement that fits its CUDA and its Python.
    cuda_python: str


JETPACK_RELEASES: tuple[JetPackRelease, ...] = (
    JetPackRelease("5.0.2", "35.1", "8.4.1", "11.4", "3.8", True, "cuda-python>=11.4,<12"),
    JetPackRelease("5.1.x", "35.2 - 35.6", "8.5.2", "11.4", "3.8", True,
                   "cuda-python>=11.4,<12"),
    JetPackRelease("6.0", "36.3", "8.6.2", "12.2", "3.10", True, "cuda-python>=12.2,<12.9.11"),
    JetPackRelease("6.1, 6.2", "36.4", "10.3.0", "12.6", "3.10", True,
                   "cuda-python>=12.2,<12.9.11"),
)

#: TensorRT releases with no DLA support (the TensorRT 11.0 and 11.1 documentation).
FIRST_TENSORRT_WITHOUT_DLA = 11


def newest() -> JetPackRelease:
    """The newest JetPack release for Orin in the table."""
    return JETPACK_RELEASES[-1]


def for_cuda_major(major: int) -> JetPackRelease | None:
    """The newest release whose CUDA has this major version (what a driver reports)."""
    matching = [r for r in JETPACK_RELEASES if int(r.cuda.split(".")[0]) == major]
    return matching[-1] if matching else None


def markdown_table() -> str:
    """The table as ``docs/jetson-build.md`` shows it."""
    rows = ["| JetPack | L4T | TensorRT | CUDA | system Python | DLA | cuda-python |",
            "|---|---|---|---|---|---|---|"]
    rows += [f"| {r.jetpack} | {r.l4t} | {r.tensorrt} | {r.cuda} | {r.python} | "
             f"{'yes' if r.dla else 'no'} | `{r.cuda_python}` |" for r in JETPACK_RELEASES]
    return "\n".join(rows)
