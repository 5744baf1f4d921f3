"""Train the bundled shape classifier and write ``engines/models/shapes_classifier.onnx``.

What it trains: a 7-conv CNN (conv-BN-ReLU, four stride-2 stages, global average pool, linear)
that names the one large shape in a 128x128 ``single`` synthetic camera frame, resized to 64x64
by the runtime's :func:`~edge_runtime.pipelines.preprocess.preprocess_frame` (scale 1/255, mean 0,
std 1, NCHW). Input ``image`` float32 [batch, 3, 64, 64]; output ``logits`` float32 [batch, 8]
in the order of :data:`edge_runtime.synthetic.SHAPE_CLASSES`.

Data: 30,000 frames of seed 1001 for training, 1,000 of seed 1002 for validation, rendered into
memory before training; horizontal flips (the generator's shapes and rotations are symmetric
under them) as the only augmentation. Held-out scoring is ``tools/eval_models.py`` (seed 7001).

Time: about 3 minutes on a 2-core CPU (50 s rendering, 13-35 s per epoch depending on what else
runs, 6 epochs); validation top-1 climbs from 0.78 after the first epoch to 0.98 from the
fourth on (held-out: 0.985; the world's occluders, blur, low contrast and distractors keep it
off 100%). Two runs write the same file, byte for byte.

Run (dev-time; needs torch, which the runtime never imports)::

    pip install torch==2.13.0 numpy onnx onnxruntime
    PYTHONPATH=. python tools/train_classifier.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from edge_runtime.synthetic import SHAPE_CLASSES, SceneKind
from tools.training_common import (
    MODELS_DIR,
    RenderedSet,
    batches,
    cosine_lr,
    count_parameters,
    describe_export,
    export_onnx,
    render_set,
    scene_generator,
    seed_everything,
)

CAMERA = (128, 128)  # width, height of the synthetic camera
INPUT_HW = (64, 64)
TRAIN_SEED, VAL_SEED = 1001, 1002
TOOL = "tools/train_classifier.py"


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ShapesClassifier(nn.Module):
    """64x64 RGB to 8 logits: 16-32-64-128 channels at strides 2-4-8-16, GAP, linear."""

    def __init__(self, classes: int = len(SHAPE_CLASSES)) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(3, 16, 2),  # 32x32
            conv_bn_relu(16, 32, 2),  # 16x16
            conv_bn_relu(32, 32),
            conv_bn_relu(32, 64, 2),  # 8x8
            conv_bn_relu(64, 64),
            conv_bn_relu(64, 128, 2),  # 4x4
            conv_bn_relu(128, 128),
        )
        self.classifier = nn.Linear(128, classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.features(image).mean(dim=(2, 3))
        logits: torch.Tensor = self.classifier(features)
        return logits


def labels_of(data: RenderedSet) -> npt.NDArray[np.int64]:
    return np.array([objects[0].class_id for objects in data.objects], dtype=np.int64)


def accuracy(model: nn.Module, images: npt.NDArray[np.generic],
             labels: npt.NDArray[np.int64]) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), 256):
            batch = torch.from_numpy(images[start:start + 256].astype(np.float32))
            predicted = model(batch).argmax(dim=1).numpy()
            correct += int((predicted == labels[start:start + 256]).sum())
    return correct / len(labels)


def train(args: argparse.Namespace) -> None:
    seed_everything(args.seed, args.threads)
    train_set = render_set(
        scene_generator(SceneKind.SINGLE, *CAMERA, TRAIN_SEED), args.train_frames, INPUT_HW,
        label="training",
    )
    val_set = render_set(
        scene_generator(SceneKind.SINGLE, *CAMERA, VAL_SEED), args.val_frames, INPUT_HW,
        label="validation",
    )
    train_labels, val_labels = labels_of(train_set), labels_of(val_set)
    if any(len(objects) != 1 for objects in train_set.objects):
        raise RuntimeError("a single-object scene rendered no object; cannot label it")

    model = ShapesClassifier()
    print(f"ShapesClassifier: {count_parameters(model)} parameters")
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    rng = np.random.default_rng(args.seed)
    steps_per_epoch = len(train_set) // args.batch_size
    total_steps = steps_per_epoch * args.epochs
    step = 0
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        loss_sum, seen = 0.0, 0
        for index in batches(len(train_set), args.batch_size, rng):
            images = torch.from_numpy(train_set.images[index].astype(np.float32))
            flip = torch.from_numpy(rng.random(len(index)) < 0.5)
            images = torch.where(flip[:, None, None, None], images.flip(3), images)
            labels = torch.from_numpy(train_labels[index])
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(step, total_steps, args.lr, warmup=steps_per_epoch // 2)
            loss = F.cross_entropy(model(images), labels, label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            optimizer.step()
            loss_sum += float(loss.detach()) * len(index)
            seen += len(index)
            step += 1
        val_acc = accuracy(model, val_set.images, val_labels)
        print(
            f"epoch {epoch:2d}/{args.epochs}  loss {loss_sum / seen:.4f}  "
            f"val top-1 {val_acc:.4f}  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )

    path: Path = args.output
    sample = torch.from_numpy(val_set.images[:8].astype(np.float32))
    max_diff = export_onnx(model, sample, path, output_name="logits", task="classification",
                           tool=TOOL)
    describe_export(path, count_parameters(model), max_diff)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--train-frames", type=int, default=30_000)
    parser.add_argument("--val-frames", type=int, default=1_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--output", type=Path, default=MODELS_DIR / "shapes_classifier.onnx")
    train(parser.parse_args())


if __name__ == "__main__":
    main()
