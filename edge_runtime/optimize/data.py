"""Samples for calibration and evaluation: feeds for the model, with ground truth when known.

Data enters through one tiny protocol, an iterable of feed dicts (input name -> array), the same
object onnxruntime's calibrators and the TensorRT calibrator adapter consume (STYLE.md). Samples
come from the pipeline's own source and preprocess, from a source of the recipe's own (a
synthetic camera, images, an .npy/.npz of frames) or from an .npz of ready tensors named like the
model's inputs (non-image models). Their fingerprint (a hash of the arrays) decides whether a
calibration can be reused.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge_runtime.config.recipe import DataConfig
from edge_runtime.config.stages import (
    ExternalSourceConfig,
    NumpySource,
    PostprocessConfig,
    PreprocessConfig,
    SourceConfig,
    SyntheticCameraSource,
    TextCommandsSource,
    TokenizeConfig,
)
from edge_runtime.errors import UserError
from edge_runtime.graph.tensors import Feed, TensorSpec
from edge_runtime.pipelines.preprocess import preprocess_frame, preprocess_misfit, spatial_size
from edge_runtime.pipelines.sources import (
    ArrayFileError,
    BadFrameError,
    Empty,
    Truth,
    is_numeric,
    load_npz,
    npz_array,
    open_source,
)
from edge_runtime.pipelines.text import TOKEN_INPUTS, TokenInput

Array = npt.NDArray[np.generic]


@dataclass(frozen=True)
class Sample:
    """One batch-of-one feed, with the ground truth of its frame when the source knows it."""

    feed: Feed
    truth: Truth = None
    #: The text a token sample was made from (a text model's decoder reads it).
    text: str | None = None


@dataclass(frozen=True)
class PipelineData:
    """What a pipeline contributes when a recipe says ``source: pipeline``."""

    source: SourceConfig
    preprocess: PreprocessConfig | TokenizeConfig
    postprocess: PostprocessConfig | None


@dataclass(frozen=True)
class ResolvedData:
    """A data config with 'pipeline' replaced by the pipeline's own stages."""

    source: SourceConfig
    preprocess: PreprocessConfig | TokenizeConfig | None
    postprocess: PostprocessConfig | None


def resolve(config: DataConfig, pipeline: PipelineData | None, key: str) -> ResolvedData:
    """Fill in ``pipeline`` defaults; a recipe that needs a pipeline and has none is an error."""
    if config.source == "pipeline":
        if pipeline is None:
            raise UserError(f"{key}.source is 'pipeline' but this build has no pipeline: give "
                            f"{key} a source of its own (a synthetic_camera, an image directory "
                            "or an .npz), or build through a pipeline set", key=key)
        return ResolvedData(pipeline.source, config.preprocess or pipeline.preprocess,
                            config.postprocess or pipeline.postprocess)
    assert not isinstance(config.source, str)
    fallback = pipeline.preprocess if pipeline is not None else None
    post = config.postprocess or (pipeline.postprocess if pipeline is not None else None)
    return ResolvedData(config.source, config.preprocess or fallback, post)


def disjoint(data: ResolvedData) -> ResolvedData:
    """The same kind of data, other frames: a synthetic camera with another seed (evaluation
    must not score the frames calibration saw). File sources have no other frames to give."""
    if isinstance(data.source, SyntheticCameraSource | TextCommandsSource):
        source = data.source.model_copy(update={"seed": data.source.seed + 7919})
        return ResolvedData(source, data.preprocess, data.postprocess)
    return data


def load_samples(data: ResolvedData, inputs: Sequence[TensorSpec], count: int,
                 key: str = "data") -> list[Sample]:
    """``count`` samples (fewer if a finite source ends first). ``key`` is where the data is
    configured (``calibration.data``), named by every mistake found in it."""
    tensors = _tensor_archive(data.source, inputs, key)
    if tensors is not None:
        return list(itertools.islice(_tensor_samples(tensors, inputs), count))
    if not inputs:
        raise UserError("the model has no inputs to feed")
    if isinstance(data.preprocess, TokenizeConfig):
        return _text_samples(data.source, data.preprocess, inputs, count, key)
    if isinstance(data.source, TextCommandsSource):  # else: "input_ids is not an image"
        raise UserError("a text_commands source gives texts, and texts need a tokens "
                        "preprocess to become tensors: add preprocess: {type: tokens, "
                        "tokenizer: models/commands_tokenizer.json}", key=f"{key}.preprocess")
    target = inputs[0]
    preprocess = data.preprocess or PreprocessConfig()
    size = spatial_size([d if isinstance(d, int) else -1 for d in target.shape],
                        preprocess.layout)
    if size is None:
        raise UserError(f"input '{target.name}' is not an image ({target.describe()}); give "
                        "an .npz of tensors named like the inputs", key=f"{key}.source")
    misfit = preprocess_misfit(preprocess.model_copy(update={"input": target.name}), [target],
                               check_dtype=False)  # samples are cast to the input's type
    if misfit is not None:
        raise UserError(misfit[1], key=".".join((key, "preprocess", *misfit[0])))
    extras = {spec.name: np.zeros(spec.concrete_shape(), dtype=spec.numpy_dtype)
              for spec in inputs[1:]}
    if isinstance(data.source, ExternalSourceConfig):
        raise UserError("an external source has no frames to calibrate or evaluate on; give "
                        "the recipe its own calibration data (an .npz, image_dir or "
                        "synthetic_camera source)", key=f"{key}.source")
    source = open_source(data.source)
    samples = []
    try:
        for index in range(count):
            try:
                frame = source.read(index / source.rate_hz if source.rate_hz else 0.0)
            except BadFrameError:  # an unreadable frame is no sample; the next one may be
                continue
            if isinstance(frame, Empty):
                break
            tensor = preprocess_frame(frame.image, preprocess, size).astype(target.numpy_dtype)
            samples.append(Sample({target.name: tensor, **extras}, frame.truth))
    finally:
        source.close()
    return samples


def _text_samples(source_config: SourceConfig, preprocess: TokenizeConfig,
                  inputs: Sequence[TensorSpec], count: int, key: str) -> list[Sample]:
    """Token samples of a text model from a text source (the command world), each with its
    text and truth (the evaluator decodes and scores them)."""
    if not isinstance(source_config, TextCommandsSource):
        raise UserError(f"a tokens preprocess reads texts, and a {source_config.type} source has "
                        "none to calibrate or evaluate on (give a text_commands source)",
                        key=f"{key}.source")
    misfit = preprocess_misfit(preprocess, inputs)
    if misfit is not None:
        raise UserError(misfit[1], key=f"{key}.preprocess")
    unfed = [spec.name for spec in inputs if spec.name not in TOKEN_INPUTS]
    if unfed:  # otherwise onnxruntime's "missing input" traceback in the middle of calibration
        raise UserError(f"a tokens preprocess feeds {list(TOKEN_INPUTS)} and nothing feeds the "
                        f"model's other inputs {unfed}; give an .npz of tensors named like "
                        "every input instead", key=f"{key}.preprocess")
    if not Path(preprocess.tokenizer).is_file():
        raise UserError(f"tokenizer not found: {preprocess.tokenizer} (a path relative to the "
                        "recipe, e.g. models/commands_tokenizer.json)",
                        key=f"{key}.preprocess.tokenizer")
    tokens = TokenInput(preprocess)
    source = open_source(source_config)
    samples = []
    try:
        for index in range(count):
            assert source.rate_hz is not None
            frame = source.read(index / source.rate_hz)
            if isinstance(frame, Empty) or frame.text is None:
                break
            samples.append(Sample(tokens(frame.text), frame.truth, frame.text))
    finally:
        source.close()
    return samples


def _tensor_archive(source: SourceConfig, inputs: Sequence[TensorSpec],
                    key: str) -> dict[str, Array] | None:
    """An .npz whose arrays are named like every model input: ready tensors, not frames. Read
    without unpickling, and checked here against the inputs (numbers, one sample per index of
    the first axis, each of the input's shape), so a wrong archive is one line naming it, not
    onnxruntime's INVALID_ARGUMENT traceback halfway through calibration."""
    if not isinstance(source, NumpySource) or source.path.suffix != ".npz":
        return None
    path = Path(source.path)
    if not path.is_file():
        raise UserError(f"data file not found: {path}", key=f"{key}.source.path")
    try:
        with load_npz(path) as archive:
            names = set(archive.files)
            if not {spec.name for spec in inputs} <= names:
                return None
            arrays = {spec.name: npz_array(archive, spec.name, path) for spec in inputs}
    except ArrayFileError as exc:
        raise UserError(str(exc), file=path, key=f"{key}.source.path") from None
    for spec in inputs:
        _check_tensors(arrays[spec.name], spec, path, f"{key}.source.path")
    return arrays


def _check_tensors(array: Array, spec: TensorSpec, path: Path, key: str) -> None:
    """``array`` holds samples for input ``spec``: numbers, and per index of the first axis a
    tensor of the input's shape (with or without its batch axis of 1)."""
    if not is_numeric(array):
        raise UserError(f"array '{spec.name}' is {array.dtype}; the input needs numbers "
                        f"({spec.describe()})", file=path, key=key)
    wanted = list(spec.shape)
    sample = list(array.shape[1:])
    if len(sample) == len(wanted) - 1:  # stored without the batch axis of each sample
        sample = [1, *sample]
    fits = len(sample) == len(wanted) and all(
        not isinstance(w, int) or w == d for w, d in zip(wanted, sample, strict=True))
    if not fits:
        raise UserError(f"array '{spec.name}' has shape {list(array.shape)}, samples of shape "
                        f"{list(array.shape[1:])}; the input is {spec.describe()} (give one "
                        "sample per index of the first axis)", file=path, key=key)


def _tensor_samples(arrays: dict[str, Array], inputs: Sequence[TensorSpec]) -> Iterator[Sample]:
    count = min(len(a) for a in arrays.values())
    for index in range(count):
        feed = {}
        for spec in inputs:
            value = arrays[spec.name][index:index + 1]
            if value.ndim == len(spec.shape) + 1:  # stored with a batch axis per sample
                value = value[0]
            feed[spec.name] = np.ascontiguousarray(value, dtype=spec.numpy_dtype)
        yield Sample(feed)


def batched(samples: Sequence[Sample], batch_size: int, inputs: Sequence[TensorSpec]) -> list[Feed]:
    """Samples stacked into batches along axis 0 — only when every input's first dimension is
    the same symbolic one (a shared batch axis); otherwise one sample per batch (a fixed
    batch, or a sequence-major model whose batch is elsewhere). Sequences of different
    lengths (token ids and masks) are padded to the longest of their own batch, as the runtime
    pads a batch of commands; batches may then differ in length (``calibrate`` copes)."""
    firsts = {spec.shape[0] if spec.shape else None for spec in inputs}
    shared = len(firsts) == 1 and isinstance(next(iter(firsts)), str)
    size = max(batch_size, 1) if shared else 1
    feeds: list[Feed] = []
    for start in range(0, len(samples), size):
        group = samples[start:start + size]
        feeds.append({name: stacked([s.feed[name] for s in group]) for name in group[0].feed})
    return feeds


def stacked(arrays: Sequence[Array]) -> Array:
    """Arrays joined along axis 0, each first padded (:func:`padded`) to the largest size of
    every other axis. Arrays of one shape are just joined."""
    if len({a.shape[1:] for a in arrays}) > 1:
        largest = common_shape(arrays)
        arrays = [padded(a, largest) for a in arrays]
    return np.concatenate(arrays, axis=0)


def common_shape(arrays: Sequence[Array]) -> tuple[int, ...]:
    """The largest size of every axis but the first (the batch) over ``arrays``."""
    ranks = {a.ndim for a in arrays}
    if len(ranks) != 1:
        raise ValueError(f"cannot batch arrays of ranks {sorted(ranks)}")
    return tuple(int(n) for n in np.max([a.shape[1:] for a in arrays], axis=0))


def padded(array: Array, shape: Sequence[int]) -> Array:
    """``array`` zero-padded at the end of every axis but the first to ``shape``: pad id 0 and
    mask 0 for token sequences, so the padded positions are masked out - the rule the
    runtime's batches of commands follow."""
    if tuple(array.shape[1:]) == tuple(shape):
        return array
    return np.pad(array, [(0, 0), *((0, n - d) for n, d in zip(shape, array.shape[1:],
                                                                 strict=True))])


def fingerprint(samples: Sequence[Sample]) -> str:
    """A hash of every array: equal fingerprints mean identical calibration data."""
    digest = hashlib.sha256()
    for sample in samples:
        for name in sorted(sample.feed):
            array = np.ascontiguousarray(sample.feed[name])
            digest.update(name.encode())
            digest.update(str(array.dtype).encode() + str(array.shape).encode())
            digest.update(array.tobytes())
    return digest.hexdigest()
