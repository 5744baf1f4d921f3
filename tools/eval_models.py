"""Score the shipped ONNX models on held-out synthetic frames; write their ``metrics.json``.

Runs on the runtime's dependencies only (numpy, onnxruntime, edge_runtime; no torch) and through
the runtime's own code path: :class:`~edge_runtime.synthetic.SceneGenerator` at the camera
resolution the model is deployed with, :func:`~edge_runtime.pipelines.preprocess.preprocess_frame`,
an onnxruntime ``InferenceSession`` (CPU, one thread, batch 1), the decoder that
:func:`~edge_runtime.pipelines.postprocess.make_decoder` builds from the model's ``labels``
metadata, and the :mod:`edge_runtime.pipelines.scoring` accumulators.

The held-out seeds (7001 for the classifier, 7002 for the detector) are never rendered by the
training tools, which refuse seeds above 7000. The figures in ``engines/models/README.md`` are
the ones this tool writes.

Run::

    PYTHONPATH=. python tools/eval_models.py                 # both models, full frame counts
    PYTHONPATH=. python tools/eval_models.py --latency-runs 200   # also time batch-1 inference

Takes about 30 s on a 2-core CPU (plus the latency runs, if asked for).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edge_runtime.config.stages import (
    ClassificationPost,
    DetectionPost,
    PostprocessConfig,
    PreprocessConfig,
)
from edge_runtime.pipelines.postprocess import Classification, Detections, make_decoder
from edge_runtime.pipelines.preprocess import preprocess_frame
from edge_runtime.pipelines.scoring import MeanAveragePrecision, TopOneScore
from edge_runtime.synthetic import SHAPE_CLASSES, SceneGenerator, SceneKind

MODELS_DIR = Path(__file__).resolve().parent.parent / "engines" / "models"
METRICS_PATH = MODELS_DIR / "metrics.json"
#: Seeds at or below this are training and validation data (see tools/training_common.py).
HELD_OUT_SEED_MIN = 7000


@dataclass(frozen=True)
class ModelSpec:
    """How one bundled model is deployed and scored."""

    file: str
    camera: tuple[int, int]  # width, height
    scene: SceneKind
    resize: tuple[int, int]  # height, width of the model input
    postprocess: PostprocessConfig
    metric: str
    seed: int
    frames: int
    max_objects: int = 4


CLASSIFIER = ModelSpec(
    file="shapes_classifier.onnx",
    camera=(128, 128),
    scene=SceneKind.SINGLE,
    resize=(64, 64),
    postprocess=ClassificationPost(type="classification", top_k=1),
    metric="top1",
    seed=7001,
    frames=2000,
)

MODELS: dict[str, ModelSpec] = {
    "shapes_classifier": CLASSIFIER,
    # The classifier pruned to 2:4 and fine-tuned (tools/finetune_sparse.py): same frames, seed.
    "shapes_classifier_sparse": dataclasses.replace(CLASSIFIER,
                                                    file="shapes_classifier_sparse.onnx"),
    "shapes_detector": ModelSpec(
        file="shapes_detector.onnx",
        camera=(320, 240),
        scene=SceneKind.MULTI,
        resize=(120, 160),
        postprocess=DetectionPost(type="detection", conf_threshold=0.25, iou_threshold=0.45),
        metric="mAP@0.5",
        seed=7002,
        frames=1000,
    ),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def open_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def evaluate_model(name: str, frames: int, seed: int) -> dict[str, Any]:
    """Score model ``name`` on ``frames`` held-out frames of world ``seed``; a metrics record."""
    spec = MODELS[name]
    if seed <= HELD_OUT_SEED_MIN:
        raise ValueError(f"seed {seed} is training data; held-out seeds are > {HELD_OUT_SEED_MIN}")
    path = MODELS_DIR / spec.file
    session = open_session(path)
    metadata = session.get_modelmeta().custom_metadata_map
    labels = json.loads(metadata["labels"])
    if tuple(labels) != SHAPE_CLASSES:
        raise ValueError(f"{spec.file}: labels {labels} are not the synthetic world's classes")
    model_input = session.get_inputs()[0]
    output_names = [output.name for output in session.get_outputs()]
    decode = make_decoder(spec.postprocess, labels, spec.resize)
    preprocess = PreprocessConfig(resize=spec.resize)
    generator = SceneGenerator(*spec.camera, spec.scene, seed=seed, max_objects=spec.max_objects)

    top1 = TopOneScore()
    mean_ap = MeanAveragePrecision()
    for index in range(frames):
        scene = generator.render(index)
        tensor = preprocess_frame(scene.image, preprocess)
        outputs = dict(zip(output_names, session.run(output_names, {model_input.name: tensor}),
                           strict=True))
        result = decode(outputs)
        if isinstance(result, Classification):
            top1.add(result, scene.objects[0].class_id)
        elif isinstance(result, Detections):
            mean_ap.add(result, scene.objects)

    record: dict[str, Any] = {
        "model": name,
        "file": spec.file,
        "sha256": sha256(path),
        "task": metadata.get("task"),
        "metric": spec.metric,
    }
    if spec.metric == "top1":
        record["value"] = round(top1.value or 0.0, 4)
        record["correct"] = top1.correct
    else:
        record["value"] = round(mean_ap.value or 0.0, 4)
        record["per_class_ap"] = {SHAPE_CLASSES[c]: round(ap, 4)
                                  for c, ap in mean_ap.per_class().items()}
    record.update({
        "frames": frames,
        "seed": seed,
        "camera": {"width": spec.camera[0], "height": spec.camera[1], "scene": spec.scene.value,
                   "max_objects": spec.max_objects, "noise": generator.noise},
        "input": [1, 3, *spec.resize],
        "preprocess": preprocess.model_dump(mode="json", exclude_none=True),
        "decoder": spec.postprocess.model_dump(mode="json", exclude_none=True),
    })
    return record


def measure_latency(name: str, runs: int, threads: int = 1) -> float:
    """Median onnxruntime CPU time of one batch-1 inference, in milliseconds."""
    spec = MODELS[name]
    session = open_session(MODELS_DIR / spec.file, threads)
    model_input = session.get_inputs()[0]
    feed = {model_input.name: np.random.default_rng(0).random((1, 3, *spec.resize),
                                                            dtype=np.float32)}
    for _ in range(10):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    parser.add_argument("--frames", type=int, default=None,
                        help="frames per model (default: 2000 classifier, 1000 detector)")
    parser.add_argument("--output", type=Path, default=METRICS_PATH,
                        help="metrics file to write ('-' to skip writing)")
    parser.add_argument("--latency-runs", type=int, default=0,
                        help="also report median batch-1 latency over this many runs "
                             "(printed only: timings are not reproducible)")
    args = parser.parse_args()

    records = {}
    print(f"{'model':<20} {'metric':<8} {'value':>7} {'frames':>7} {'seed':>5}  file sha256")
    for name in args.models:
        spec = MODELS[name]
        record = evaluate_model(name, args.frames or spec.frames, spec.seed)
        records[name] = record
        print(f"{name:<20} {record['metric']:<8} {record['value']:>7.4f} {record['frames']:>7} "
              f"{record['seed']:>5}  {record['sha256'][:16]}")
    for name in args.models if args.latency_runs else ():
        latency = measure_latency(name, args.latency_runs)
        print(f"{name:<20} onnxruntime CPU, 1 thread, batch 1: {latency:.2f} ms median "
              f"over {args.latency_runs} runs")
    if str(args.output) != "-":
        args.output.write_text(json.dumps(records, indent=2) + "\n")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
