"""Prune the bundled classifier into 2:4 sparsity, fine-tune it, write its sparse ONNX.

Reads ``engines/models/shapes_classifier.onnx`` and writes
``engines/models/shapes_classifier_sparse.onnx``: the same graph, inputs, outputs and metadata,
plus ``sparsity: "2:4"``. The recipe is ASP's (NVIDIA apex ``contrib/sparsity``): prune a trained
dense network once, then fine-tune it with the masks fixed.

1. :func:`edge_runtime.optimize.sparsity.prune_2_4` decides which layers are pruned and how
   (the library's rules and default ``min_channels``: one source of truth for the tool, the
   build and the tests).
2. The dense ONNX weights are loaded into :class:`tools.train_classifier.ShapesClassifier`. The
   export folded BatchNorm into each convolution, so a BatchNorm becomes the identity plus the
   folded bias and stays in eval mode: its statistics are frozen, its scale and shift still
   train. The starting point computes exactly what the dense ONNX computes.
3. The pruned layers get :func:`~edge_runtime.optimize.sparsity.mask_2_4` masks; as ASP's
   optimizer hook does, the gradients are masked before each step and the weights after it.
4. The export folds BatchNorm back (zeros stay zeros) and
   :func:`~edge_runtime.optimize.sparsity.check_sparsity` must find every pruned layer 2:4.

Data: the dense tool's (``tools/train_classifier.py``): 30,000 frames of seed 1001, validation on
1,000 of seed 1002, horizontal flips, label smoothing 0.05, AdamW; a lower peak learning rate
(1e-3) and 4 epochs. The held-out top-1 of both models (seed 7001, ``tools/eval_models.py``'s
``evaluate_model``) is printed at the end, for the record: nothing here is chosen by it.

Run (dev-time; needs torch)::

    PYTHONPATH=. python tools/finetune_sparse.py
"""

from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F  # noqa: N812
from onnx import numpy_helper
from torch import nn

from edge_runtime.optimize.sparsity import (
    DEFAULT_MIN_CHANNELS,
    SparsityReport,
    check_sparsity,
    mask_2_4,
    prune_2_4,
)
from edge_runtime.synthetic import SceneKind
from tools.train_classifier import (
    CAMERA,
    INPUT_HW,
    TRAIN_SEED,
    VAL_SEED,
    ShapesClassifier,
    accuracy,
    labels_of,
)
from tools.training_common import (
    MODELS_DIR,
    batches,
    cosine_lr,
    count_parameters,
    describe_export,
    export_onnx,
    render_set,
    scene_generator,
    seed_everything,
)

TOOL = "tools/finetune_sparse.py"


def weight_layers(model: ShapesClassifier) -> list[tuple[nn.Module, nn.Module | None]]:
    """(conv or linear, its BatchNorm) in graph order: the order of the ONNX Conv/Gemm nodes."""
    pairs: list[tuple[nn.Module, nn.Module | None]] = [
        (block[0], block[1]) for block in model.features]
    pairs.append((model.classifier, None))
    return pairs


def load_dense(model: ShapesClassifier, dense: onnx.ModelProto) -> list[str]:
    """Copy the dense ONNX weights into ``model``; the ONNX node name of each layer, in order."""
    weights = {init.name: numpy_helper.to_array(init) for init in dense.graph.initializer}
    nodes = [node for node in dense.graph.node if node.op_type in ("Conv", "Gemm")]
    layers = weight_layers(model)
    if len(nodes) != len(layers):
        raise RuntimeError(f"{len(nodes)} Conv/Gemm nodes for {len(layers)} layers")
    with torch.no_grad():
        for node, (layer, norm) in zip(nodes, layers, strict=True):
            weight = torch.from_numpy(weights[node.input[1]].copy())
            bias = torch.from_numpy(weights[node.input[2]].copy())
            if tuple(weight.shape) != tuple(layer.weight.shape):
                raise RuntimeError(f"{node.name}: {tuple(weight.shape)} vs "
                                   f"{tuple(layer.weight.shape)}")
            layer.weight.copy_(weight)
            if norm is None:
                layer.bias.copy_(bias)
            else:  # identity BatchNorm carrying the folded bias: y = (x - 0) / sqrt(1) * 1 + b
                norm.running_mean.zero_()
                norm.running_var.fill_(1.0 - norm.eps)
                norm.weight.fill_(1.0)
                norm.bias.copy_(bias)
    return [node.name for node in nodes]


def masks_for(model: ShapesClassifier, names: list[str],
              report: SparsityReport) -> dict[nn.Parameter, torch.Tensor]:
    """The fixed 2:4 mask of every weight ``prune_2_4`` pruned, keyed by the torch parameter."""
    by_node = {layer.node: layer for layer in report.pruned_layers}
    masks = {}
    for name, (layer, _) in zip(names, weight_layers(model), strict=True):
        if name in by_node:
            axis = by_node[name].axis
            assert axis is not None
            keep = mask_2_4(layer.weight.detach().numpy(), axis)
            masks[layer.weight] = torch.from_numpy(keep).to(layer.weight.dtype)
    if len(masks) != len(by_node):
        raise RuntimeError(f"pruned {sorted(by_node)}, matched {len(masks)} layers")
    return masks


def apply_masks(masks: dict[nn.Parameter, torch.Tensor], gradients: bool = False) -> None:
    with torch.no_grad():
        for parameter, mask in masks.items():
            target = parameter.grad if gradients else parameter
            if target is not None:
                target.mul_(mask)


def finetune(args: argparse.Namespace) -> None:
    seed_everything(args.seed, args.threads)
    source: Path = args.input
    dense = onnx.load(str(source))
    _, plan = prune_2_4(dense, min_channels=args.min_channels)
    print(f"prune_2_4 on {source.name}: {plan.summary}")
    for layer in plan.layers:
        verdict = "pruned" if layer.reason is None else f"dense: {layer.reason.value} " \
                                                         f"({layer.detail})"
        print(f"  {layer.node:<40} {layer.op:<5} {list(layer.shape)!s:<18} {verdict}")

    model = ShapesClassifier()
    names = load_dense(model, dense)
    masks = masks_for(model, names, plan)
    val_set = render_set(scene_generator(SceneKind.SINGLE, *CAMERA, VAL_SEED), args.val_frames,
                         INPUT_HW, label="validation")
    val_labels = labels_of(val_set)
    print(f"validation top-1: dense {accuracy(model, val_set.images, val_labels):.4f}", end="")
    apply_masks(masks)
    print(f", pruned before fine-tuning {accuracy(model, val_set.images, val_labels):.4f}")

    train_set = render_set(scene_generator(SceneKind.SINGLE, *CAMERA, TRAIN_SEED),
                           args.train_frames, INPUT_HW, label="training")
    train_labels = labels_of(train_set)
    norms = [module for module in model.modules() if isinstance(module, nn.BatchNorm2d)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    rng = np.random.default_rng(args.seed)
    steps_per_epoch = len(train_set) // args.batch_size
    total_steps, step = steps_per_epoch * args.epochs, 0
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        for norm in norms:
            norm.eval()  # frozen statistics: the folded dense model is the starting point
        loss_sum, seen = 0.0, 0
        for index in batches(len(train_set), args.batch_size, rng):
            images = torch.from_numpy(train_set.images[index].astype(np.float32))
            flip = torch.from_numpy(rng.random(len(index)) < 0.5)
            images = torch.where(flip[:, None, None, None], images.flip(3), images)
            labels = torch.from_numpy(train_labels[index])
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(step, total_steps, args.lr, warmup=steps_per_epoch // 4)
            loss = F.cross_entropy(model(images), labels, label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            apply_masks(masks, gradients=True)
            optimizer.step()
            apply_masks(masks)
            loss_sum += float(loss.detach()) * len(index)
            seen += len(index)
            step += 1
        print(f"epoch {epoch}/{args.epochs}  loss {loss_sum / seen:.4f}  val top-1 "
              f"{accuracy(model, val_set.images, val_labels):.4f}  "
              f"({time.perf_counter() - start:.0f} s)", flush=True)

    output: Path = args.output
    sample = torch.from_numpy(val_set.images[:8].astype(np.float32))
    max_diff = export_onnx(model, sample, output, output_name="logits", task="classification",
                           tool=TOOL, extra_metadata={"sparsity": "2:4"})
    describe_export(output, count_parameters(model), max_diff)
    verify(output, plan)
    if args.held_out_frames:
        report_held_out(source, output, args.held_out_frames)


def verify(path: Path, plan: SparsityReport) -> None:
    """Every layer ``prune_2_4`` pruned is 2:4 in the written file; nothing else changed kind."""
    report = check_sparsity(onnx.load(str(path)), min_channels=plan.min_channels)
    sparse = {layer.node for layer in report.sparse_layers}
    missing = [layer.node for layer in plan.pruned_layers if layer.node not in sparse]
    if missing:
        raise RuntimeError(f"{path.name}: not 2:4 after export: {missing}")
    print(f"check_sparsity({path.name}): {report.summary}")


def report_held_out(dense: Path, sparse: Path, frames: int) -> None:
    """Held-out top-1 of both files through eval_models' own path (printed, never used)."""
    from tools.eval_models import MODELS, evaluate_model

    base = MODELS["shapes_classifier"]
    for label, path in (("dense", dense), ("sparse", sparse)):
        MODELS[f"_{label}"] = replace(base, file=str(path.resolve()))
        record = evaluate_model(f"_{label}", frames, base.seed)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        print(f"held-out top-1 ({label}, seed {base.seed}, {frames} frames): "
              f"{record['value']:.4f} ({record['correct']}/{frames})  {path.name} {digest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=MODELS_DIR / "shapes_classifier.onnx")
    parser.add_argument("--output", type=Path,
                        default=MODELS_DIR / "shapes_classifier_sparse.onnx")
    parser.add_argument("--min-channels", type=int, default=DEFAULT_MIN_CHANNELS)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-frames", type=int, default=30_000)
    parser.add_argument("--val-frames", type=int, default=1_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--held-out-frames", type=int, default=2000,
                        help="held-out frames to score both models on at the end (0: skip)")
    finetune(parser.parse_args())


if __name__ == "__main__":
    main()
