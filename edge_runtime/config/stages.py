"""Stage configs shared by pipeline sets and engine recipes: sources, preprocess, postprocess,
sinks. (A recipe's calibration and evaluation data use the same source and preprocess models as
a pipeline, so the same frames mean the same thing in both.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, ValidationInfo, field_validator

from edge_runtime.config.base import ConfigModel
from edge_runtime.synthetic import DEFAULT_NOISE, SceneKind


def resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Validator: a relative path is relative to the YAML file being loaded."""
    source = (info.context or {}).get("source")
    if source is not None and not value.is_absolute():
        return Path(source.path.parent / value).resolve()
    return value


# --- sources -------------------------------------------------------------------------------------


class SyntheticCameraSource(ConfigModel):
    """A simulated camera rendering the synthetic world (with ground truth for scoring)."""

    type: Literal["synthetic_camera"]
    width: int = Field(default=320, ge=16, le=4096)
    """Frame width in pixels."""
    height: int = Field(default=240, ge=16, le=4096)
    """Frame height in pixels."""
    fps: float = Field(default=30.0, gt=0, le=1000)
    """Camera frame rate."""
    scene: SceneKind = SceneKind.MULTI
    """``single`` (one large object, for classifiers) or ``multi`` (several, for detectors)."""
    seed: int = Field(default=0, ge=0)
    """Seed of the synthetic world; the same seed renders the same stream."""
    max_objects: int = Field(default=4, ge=1, le=32)
    """Upper bound on objects per frame in ``multi`` scenes."""
    noise: float = Field(default=DEFAULT_NOISE, ge=0)
    """Sensor noise, standard deviation in 8-bit levels."""


class ImageDirSource(ConfigModel):
    """Images from a directory (PNG/JPEG need Pillow; .npy images need nothing), in name order."""

    type: Literal["image_dir"]
    path: Path
    """Directory, relative to this file."""
    loop: bool = True
    """Start again after the last image."""
    fps: float | None = Field(default=None, gt=0)
    """Replay rate; unset means as fast as the pipeline takes frames."""

    _resolve_path = field_validator("path")(resolve_path)


class NumpySource(ConfigModel):
    """Frames from an .npy array (N x H x W x C) or one array of an .npz file."""

    type: Literal["numpy"]
    path: Path
    """The .npy or .npz file, relative to this file."""
    key: str | None = None
    """Array name inside an .npz (default: the first array)."""
    labels_key: str | None = None
    """Optional .npz array of integer class labels, one per frame, for top-1 scoring."""
    loop: bool = True
    """Start again after the last frame."""
    fps: float | None = Field(default=None, gt=0)
    """Replay rate; unset means as fast as the pipeline takes frames."""

    _resolve_path = field_validator("path")(resolve_path)


class TextCommandsSource(ConfigModel):
    """Operator commands from the synthetic command world (``edge_runtime.synthetic.commands``),
    with their intent and slot truth for live scoring: command k arrives at k / rate_hz."""

    type: Literal["text_commands"]
    rate_hz: float = Field(default=2.0, gt=0, le=10000)
    """Commands per second."""
    seed: int = Field(default=0, ge=0)
    """Seed of the command world; the same seed says the same commands."""
    typo_rate: float = Field(default=0.03, ge=0, le=1)
    """Share of words misspelt (a dropped, doubled or swapped letter); never changes truth."""

    @property
    def fps(self) -> float:
        """The source's native rate (what a camera calls fps)."""
        return self.rate_hz


class ExternalSourceConfig(ConfigModel):
    """Frames (or, for a ``tokens`` pipeline, texts) pushed by the host program
    (``Runtime.push``). ``ros2`` is the same source fed by the ROS 2 node (``edge-runtime
    ros2``) from the pipeline's ``image_raw`` topic (``text`` for a text pipeline)."""

    type: Literal["external", "ros2"]


SourceConfig = Annotated[
    SyntheticCameraSource | ImageDirSource | NumpySource | TextCommandsSource
    | ExternalSourceConfig,
    Field(discriminator="type"),
]

# --- preprocess ----------------------------------------------------------------------------------


class PreprocessConfig(ConfigModel):
    """Frame (H x W x C, uint8) to engine input tensor."""

    type: Literal["image"] = "image"
    """``image`` (the default; may be left out) or ``tokens`` (a text pipeline)."""
    resize: tuple[int, int] | None = None
    """Target ``[height, width]``; unset takes the engine input's spatial size."""
    interpolation: Literal["bilinear", "nearest"] = "bilinear"
    """Resize filter."""
    scale: float = 1.0 / 255.0
    """Multiplier applied before mean/std."""
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Per-channel mean subtracted after scaling."""
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Per-channel divisor after the mean."""
    layout: Literal["nchw", "nhwc"] = "nchw"
    """Tensor layout."""
    dtype: Literal["float32", "float16", "uint8"] = "float32"
    """Tensor element type."""
    input: str | None = None
    """Engine input fed with the frame (default: the first input)."""

    @field_validator("resize")
    @classmethod
    def _positive_size(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        """A zero or negative size would divide by zero in the resize, frame after frame."""
        if value is not None and any(v < 1 for v in value):
            raise ValueError("resize needs a positive height and width")
        return value

    @field_validator("std")
    @classmethod
    def _nonzero_std(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(v == 0 for v in value):
            raise ValueError("std values must be non-zero")
        return value


class TokenizeConfig(ConfigModel):
    """Text to token tensors (``input_ids`` and ``attention_mask``, int64 ``[batch, length]``)
    with a ``tokenizers`` JSON file; a batch is padded to its own longest member."""

    type: Literal["tokens"]
    tokenizer: Path
    """The tokenizer (``tokenizers`` JSON), relative to this file."""
    max_length: int = Field(default=64, ge=2, le=4096)
    """Longest token sequence fed to the engine; longer texts are cut (their [SEP] kept)."""
    batching: Literal["by_length", "pad_to_max", "none"] = "by_length"
    """How waiting texts share a batch: ``by_length`` (texts of similar length together,
    padded to the batch's longest), ``pad_to_max`` (oldest first, every batch padded to
    ``max_length``: what a fixed-shape server does) or ``none`` (one text per run)."""
    max_padding: float = Field(default=0.15, ge=0.0, le=1.0)
    """With ``by_length``: the largest share of padded tokens one batch may have (padded /
    all it feeds). A text that would take a batch over it waits for one nearer its length.
    Within it the cost model picks the batch cheapest per text; 1 leaves the choice to the
    cost model alone (on a CPU, where each run has a fixed cost, it then pads about 30 %)."""

    _resolve_tokenizer = field_validator("tokenizer")(resolve_path)

    @field_validator("batching", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        """YAML 1.1 reads a bare ``off`` or ``no`` as false: that means no batching."""
        return "none" if value is False else value


def _preprocess_kind(value: Any) -> str:
    """A preprocess mapping without ``type`` is an image one (every image pipeline so far)."""
    kind = value.get("type", "image") if isinstance(value, dict) else getattr(value, "type",
                                                                              "image")
    return str(kind)


AnyPreprocess = Annotated[
    Annotated[PreprocessConfig, Tag("image")] | Annotated[TokenizeConfig, Tag("tokens")],
    Discriminator(_preprocess_kind),
]
"""A pipeline's preprocess: image (default) or tokens."""

# --- postprocess ---------------------------------------------------------------------------------


class ClassificationPost(ConfigModel):
    """Top-k over a logits or probability vector."""

    type: Literal["classification"]
    top_k: int = Field(default=5, ge=1)
    """How many classes to report."""
    softmax: bool = True
    """Apply softmax to the output (off if the model already outputs probabilities)."""
    output: str | None = None
    """Engine output to read (default: the first)."""
    labels: list[str] | None = None
    """Class names (default: the model's ``labels`` metadata)."""


class DetectionPost(ConfigModel):
    """Decode boxes, threshold and non-maximum suppression."""

    type: Literal["detection"]
    format: Literal["yolo"] = "yolo"
    """``yolo``: one output ``[batch, boxes, 5 + classes]`` of (cx, cy, w, h) in input pixels,
    objectness, then per-class scores."""
    conf_threshold: float = Field(default=0.3, ge=0, le=1)
    """Minimum objectness x class score."""
    iou_threshold: float = Field(default=0.45, gt=0, le=1)
    """Boxes of one class overlapping more than this are suppressed."""
    max_detections: int = Field(default=100, ge=1)
    """Detections kept per frame."""
    output: str | None = None
    """Engine output to read (default: the first)."""
    labels: list[str] | None = None
    """Class names (default: the model's ``labels`` metadata)."""


class SegmentationPost(ConfigModel):
    """Per-pixel argmax over class scores ``[batch, classes, H, W]``."""

    type: Literal["segmentation"]
    output: str | None = None
    """Engine output to read (default: the first)."""
    labels: list[str] | None = None
    """Class names (default: the model's ``labels`` metadata)."""


class CommandsPost(ConfigModel):
    """Intent and per-word slot tags of a command model: ``intent_logits`` ``[batch,
    intents]`` and ``slot_logits`` ``[batch, length, tags]``, labels from the model's
    ``intents`` and ``slot_tags`` metadata. A word's tag is its first token's."""

    type: Literal["commands"]
    intent_output: str = "intent_logits"
    """Engine output with the intent logits."""
    slot_output: str = "slot_logits"
    """Engine output with the per-token slot logits."""


PostprocessConfig = Annotated[
    ClassificationPost | DetectionPost | SegmentationPost | CommandsPost,
    Field(discriminator="type"),
]

# --- sinks ---------------------------------------------------------------------------------------


class JsonlSink(ConfigModel):
    """One JSON object per output frame, written to ``PATH.part`` and renamed on close."""

    type: Literal["jsonl"]
    path: Path
    """Output file, relative to the working directory."""


class LogSink(ConfigModel):
    """A log line every ``every`` frames."""

    type: Literal["log"]
    every: int = Field(default=30, ge=1)
    """Log every n-th output."""


class McapSink(ConfigModel):
    """Outputs as ROS 2 messages (vision_msgs, sensor_msgs) in an MCAP file, readable by
    ``ros2 bag`` and Foxglove; no ROS needed (``pip install 'edge-runtime[mcap]'``). Written to
    ``PATH.part`` and renamed on close."""

    type: Literal["mcap"]
    path: Path
    """Output file, relative to the working directory; one file per pipeline."""


SinkConfig = Annotated[JsonlSink | LogSink | McapSink, Field(discriminator="type")]
