"""Shared pieces of the training tools: seeding, dataset rendering, ONNX export with metadata.

Dev-time only: this module imports torch, which the runtime never does. The training tools
render their data with the runtime's own :class:`~edge_runtime.synthetic.SceneGenerator` and
:func:`~edge_runtime.pipelines.preprocess.preprocess_frame`, so a model is trained on exactly
the tensors the runtime will feed it.

Seeds: training and validation use seeds below 7000; ``tools/eval_models.py`` scores on seeds
7001 and up, which no training tool renders.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch
from torch import nn

from edge_runtime.config.stages import PreprocessConfig
from edge_runtime.pipelines.preprocess import preprocess_frame
from edge_runtime.synthetic import SHAPE_CLASSES, SceneGenerator, SceneKind, SceneObject

#: Where the bundled models live, relative to the repository root.
MODELS_DIR = Path(__file__).resolve().parent.parent / "engines" / "models"
OPSET = 17
ModuleT = TypeVar("ModuleT", bound=nn.Module)
#: Seeds reserved for held-out evaluation (``tools/eval_models.py``); training must not use them.
HELD_OUT_SEED_MIN = 7000


def seed_everything(seed: int, threads: int = 2) -> None:
    """Make a run repeat: seed Python, numpy and torch, fix the thread count.

    CPU kernels give the same result run to run for a fixed thread count; a different
    ``threads`` may change the last bits of the trained weights.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)


@dataclass(frozen=True)
class RenderedSet:
    """Preprocessed frames (N x C x H x W, float16 to halve memory) and their ground truth."""

    images: npt.NDArray[np.float16]
    objects: tuple[tuple[SceneObject, ...], ...]
    seed: int

    def __len__(self) -> int:
        return len(self.objects)


def render_set(
    generator: SceneGenerator, count: int, resize: tuple[int, int], *, label: str = ""
) -> RenderedSet:
    """Render frames ``0 .. count-1`` of ``generator`` through the runtime's preprocess."""
    if generator.seed > HELD_OUT_SEED_MIN:
        raise ValueError(f"seed {generator.seed} is reserved for held-out evaluation")
    config = PreprocessConfig(resize=resize)
    images = np.empty((count, 3, *resize), dtype=np.float16)
    objects: list[tuple[SceneObject, ...]] = []
    start = time.perf_counter()
    for index in range(count):
        scene = generator.render(index)
        images[index] = preprocess_frame(scene.image, config)[0]
        objects.append(scene.objects)
    elapsed = time.perf_counter() - start
    print(f"rendered {count} {label} frames (seed {generator.seed}) in {elapsed:.0f} s", flush=True)
    return RenderedSet(images, tuple(objects), generator.seed)


def scene_generator(kind: SceneKind, width: int, height: int, seed: int) -> SceneGenerator:
    return SceneGenerator(width, height, kind, seed=seed, max_objects=4)


def with_memory_format(module: ModuleT, memory_format: torch.memory_format) -> ModuleT:
    """``module.to(memory_format=...)``, which torch's type stubs do not declare."""
    converted: ModuleT = cast(Any, module).to(memory_format=memory_format)
    return converted


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up then cosine decay to 1% of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return float(peak * (0.01 + 0.99 * 0.5 * (1.0 + np.cos(np.pi * progress))))


def export_onnx(
    model: nn.Module,
    sample: torch.Tensor,
    path: Path,
    *,
    output_name: str,
    task: str,
    tool: str,
    extra_metadata: dict[str, str] | None = None,
) -> float:
    """Export ``model`` (input ``image``, dynamic batch) to ``path`` and check it.

    Adds the metadata the runtime reads (``labels``, ``task``, ``input_layout``) plus
    ``trained_with``, runs ``onnx.checker`` and shape inference, and compares onnxruntime's
    output with torch's on ``sample``. Returns the largest absolute difference.
    """
    model = model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (sample,),
            str(path),
            input_names=["image"],
            output_names=[output_name],
            dynamic_axes={"image": {0: "batch"}, output_name: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    proto = onnx.load(str(path))
    metadata = {
        "labels": json.dumps(list(SHAPE_CLASSES)),
        "task": task,
        "trained_with": tool,
        "input_layout": "nchw",
        **(extra_metadata or {}),
    }
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = tool
    proto = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
    return verify_onnx(model, path, sample, output_name)


def verify_onnx(model: nn.Module, path: Path, sample: torch.Tensor, output_name: str) -> float:
    """Largest absolute difference between torch and onnxruntime on ``sample`` (and batch 1)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch in (sample, sample[:1]):
        with torch.no_grad():
            expected = model(batch).numpy()
        (actual,) = session.run([output_name], {"image": batch.numpy()})
        if actual.shape != expected.shape:
            raise RuntimeError(f"onnx output shape {actual.shape} != torch {expected.shape}")
        worst = max(worst, float(np.abs(actual - expected).max()))
    return worst


def describe_export(path: Path, params: int, max_diff: float) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    print(
        f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, {params} params, "
        f"sha256 {digest[:16]}…); max |onnxruntime - torch| = {max_diff:.2e}"
    )


def batches(
    count: int, batch_size: int, rng: np.random.Generator
) -> Sequence[npt.NDArray[np.intp]]:
    """One epoch of shuffled index batches (the last short batch is dropped)."""
    order = rng.permutation(count)
    return [order[i:i + batch_size] for i in range(0, count - batch_size + 1, batch_size)]
