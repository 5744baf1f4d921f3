"""Pipeline sets (``pipelines/*.yaml``): the pipelines one process runs together.

A pipeline is source -> preprocess -> engine -> postprocess -> sinks, plus the scheduling
contract the runtime must honour for it: rate, priority class and deadline.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from edge_runtime.config.base import ConfigModel
from edge_runtime.config.recipe import MockOutputs
from edge_runtime.config.stages import (
    AnyPreprocess,
    CommandsPost,
    ExternalSourceConfig,
    PostprocessConfig,
    PreprocessConfig,
    SinkConfig,
    SourceConfig,
    TextCommandsSource,
    TokenizeConfig,
    resolve_path,
)


class Priority(str, enum.Enum):
    """Scheduling class; a higher class is always served first."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    BEST_EFFORT = "best_effort"

    @property
    def rank(self) -> int:
        """0 is served first."""
        return list(Priority).index(self)


# --- engine reference ----------------------------------------------------------------------------


class EngineRef(ConfigModel):
    """Which engine recipe the pipeline runs, with per-pipeline overrides."""

    recipe: Path
    """Engine recipe file, relative to this file."""
    mock_outputs: MockOutputs | None = None
    """Override the recipe's simulated-Jetson outputs (``synthetic`` or ``onnxruntime``)."""

    _resolve_recipe = field_validator("recipe")(resolve_path)


# --- faults --------------------------------------------------------------------------------------


class FaultPolicy(ConfigModel):
    """What happens when a pipeline's stages keep failing (a bad frame never counts: it is
    skipped and counted on its own)."""

    max_consecutive_failures: int = Field(default=5, ge=1)
    """Failed frames in a row (preprocess, engine, decode or sink raised) before the pipeline
    goes to ``failed``; every other pipeline keeps running."""
    restart_backoff_s: float = Field(default=1.0, gt=0)
    """Seconds in ``failed`` before the first restart; doubled after each restart that fails
    again."""
    max_backoff_s: float = Field(default=60.0, gt=0)
    """Upper bound of the restart backoff."""
    max_restarts: int | None = Field(default=None, ge=0)
    """Restarts before the pipeline stays ``failed`` (default: no limit; 0: never restart)."""


# --- pipeline and set ----------------------------------------------------------------------------


class PipelineConfig(ConfigModel):
    """One pipeline: source -> preprocess -> engine -> postprocess -> sinks."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    """Unique name (letters, digits, ``_ . -``); used in metrics, topics and sink records."""
    source: SourceConfig
    """Where frames come from."""
    preprocess: AnyPreprocess = PreprocessConfig()
    """Frame to tensor (``type: image``, the default), or text to tokens (``type: tokens``)."""
    engine: EngineRef
    """Engine recipe to run: the preferred variant."""
    variants: list[EngineRef] = Field(default_factory=list)
    """Other engines the planner may move this pipeline to when the preferred one does not fit
    the power mode (e.g. the same model in INT8 on a DLA core); all built at configure, each
    must take the same input as ``engine``. Listed in order of preference."""
    postprocess: PostprocessConfig | None = None
    """Decode outputs (unset: raw outputs only)."""
    rate_hz: float | None = Field(default=None, gt=0)
    """Processing rate (default: the source's rate; free-running for file sources)."""
    priority: Priority = Priority.NORMAL
    """Scheduling class."""
    deadline_ms: float | None = Field(default=None, gt=0)
    """Capture-to-output deadline; misses are counted (default: one period of ``rate_hz``, or
    of the source's rate; none for a free-running or pushed pipeline)."""
    min_rate_hz: float | None = Field(default=None, gt=0)
    """Lowest rate the planner may slow this pipeline to when the power mode cannot carry it
    (default: ``rate_hz`` for a critical pipeline, which is then never slowed; a quarter of
    ``rate_hz`` otherwise)."""
    queue_depth: int = Field(default=1, ge=1, le=64)
    """Frames that may wait for the engine; a newer frame replaces the oldest and counts a drop."""
    sinks: list[SinkConfig] = Field(default_factory=list)
    """Where outputs go."""
    enabled: bool = True
    """Run this pipeline when the runtime activates (``Runtime.enable`` switches it live)."""
    faults: FaultPolicy = FaultPolicy()
    """Failure handling: when to give up on a failing pipeline and when to retry it."""
    critical_offload: bool = False
    """Let a critical pipeline depend on the network: run on a remote engine (``backend:
    triton``) as its engine or a variant. Off by default, and refused at load: a critical
    deadline is a guarantee and a network is not. Other classes may always be offloaded."""

    @field_validator("engine", mode="before")
    @classmethod
    def _engine_shorthand(cls, value: Any) -> Any:
        return {"recipe": value} if isinstance(value, str) else value

    @field_validator("variants", mode="before")
    @classmethod
    def _variant_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"recipe": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _min_rate_below_rate(self) -> PipelineConfig:
        if self.min_rate_hz is not None and self.rate_hz is not None \
                and self.min_rate_hz > self.rate_hz:
            raise ValueError(f"min_rate_hz ({self.min_rate_hz:g}) is above rate_hz "
                             f"({self.rate_hz:g}); the floor must not exceed the rate")
        return self

    @model_validator(mode="after")
    def _text_stages_together(self) -> PipelineConfig:
        """Texts only become tokens, and only tokens become commands: a mismatch would fail
        every frame once running, so it is refused at load."""
        text = isinstance(self.preprocess, TokenizeConfig)
        if isinstance(self.source, TextCommandsSource) and not text:
            raise ValueError("a text_commands source needs preprocess: {type: tokens, "
                             "tokenizer: PATH}")
        if text and not isinstance(self.source, TextCommandsSource | ExternalSourceConfig):
            raise ValueError(f"preprocess type tokens reads texts, and a {self.source.type} "
                             "source gives images (use text_commands, external or ros2)")
        if isinstance(self.postprocess, CommandsPost) and not text:
            raise ValueError("postprocess type commands decodes a text pipeline's outputs; "
                             "give it preprocess: {type: tokens, tokenizer: PATH}")
        return self

    @property
    def is_text(self) -> bool:
        """Whether this pipeline carries texts (token sequences), not images."""
        return isinstance(self.preprocess, TokenizeConfig)

    def min_rate_for(self, rate_hz: float) -> float:
        """The floor the planner may slow this pipeline to at ``rate_hz`` (see
        ``min_rate_hz``)."""
        if self.min_rate_hz is not None:
            return min(self.min_rate_hz, rate_hz)
        return rate_hz if self.priority is Priority.CRITICAL else rate_hz / 4.0

    def deadline_for(self, rate_hz: float | None) -> float | None:
        """The deadline in seconds at the configured rate ``rate_hz`` (see ``deadline_ms``)."""
        if self.deadline_ms is not None:
            return self.deadline_ms / 1e3
        return 1.0 / rate_hz if rate_hz else None


class PowerSwitch(ConfigModel):
    """A timed power-mode change."""

    at_s: float = Field(ge=0)
    """Seconds after start."""
    mode: str | int
    """Target mode (name such as ``15W`` or nvpmodel id)."""


class PowerPolicy(ConfigModel):
    """How the power mode is chosen while running (the governor, ``scheduler.governor``): a
    fixed ``mode``; a ``budget_w`` (the mode with the most schedulable throughput whose
    predicted power fits, then measured power over it sheds load and steps down); or ``auto``
    (react to measured power, when a budget is set, and to temperature)."""

    mode: str | int | None = None
    """A fixed mode (name such as ``30W`` or nvpmodel id); the same as ``power_mode``."""
    budget_w: float | None = Field(default=None, gt=0)
    """Module power budget in W."""
    auto: bool = False
    """React to measured power and temperature while running."""
    max_temp_c: float = Field(default=85.0, gt=0)
    """With ``auto``: the hottest thermal zone's limit in °C (L4T throttles near 99 °C)."""
    hold_s: float = Field(default=3.0, gt=0)
    """A limit must be exceeded this long before the governor acts (one step per hold)."""
    recover_s: float = Field(default=30.0, gt=0)
    """Every reading must stay a margin under its limit this long before a step back up."""
    margin_w: float = Field(default=1.0, ge=0)
    """Hysteresis on power: recovery needs power under ``budget_w - margin_w``."""
    margin_c: float = Field(default=5.0, ge=0)
    """Hysteresis on temperature: recovery needs the hottest zone under ``max_temp_c -
    margin_c``."""
    sample_hz: float = Field(default=2.0, gt=0, le=100)
    """How often telemetry is sampled (and the governor consulted)."""

    @model_validator(mode="after")
    def _one_policy(self) -> PowerPolicy:
        if self.mode is not None and (self.budget_w is not None or self.auto):
            raise ValueError("mode fixes the power mode; drop mode to use budget_w or auto")
        if self.recover_s < self.hold_s:
            raise ValueError("recover_s must be at least hold_s, or the governor would "
                             "step back up as soon as it stepped down")
        return self

    @property
    def governed(self) -> bool:
        """Whether the governor reacts to readings while running."""
        return self.budget_w is not None or self.auto


class DiagnosticsConfig(ConfigModel):
    """When a pipeline's health report (ROS 2 ``/diagnostics``, the service's status) says WARN
    or ERROR. Each report covers the window since the previous one."""

    warn_rate_fraction: float = Field(default=0.9, gt=0, le=1)
    """WARN when outputs leave at less than this share of the pipeline's rate."""
    error_rate_fraction: float = Field(default=0.5, ge=0, le=1)
    """ERROR when outputs leave at less than this share of the pipeline's rate."""
    warn_on_drops: bool = False
    """WARN when the window dropped frames (a newer frame replaced a waiting one)."""
    warn_lane_utilisation: float = Field(default=0.95, gt=0, le=1)
    """WARN on the power report when a lane (GPU, DLA) was busier than this share."""

    @model_validator(mode="after")
    def _ordered(self) -> DiagnosticsConfig:
        if self.error_rate_fraction > self.warn_rate_fraction:
            raise ValueError("error_rate_fraction must not exceed warn_rate_fraction")
        return self


class PipelineSet(ConfigModel):
    """Everything one runtime process runs."""

    device: str = "jetson-agx-orin-32gb"
    """Power profile of the module (a name from ``edge-runtime power list``, or a YAML path)."""
    power_mode: str | int | None = None
    """Initial power mode (default: the profile's default mode)."""
    power_schedule: list[PowerSwitch] = Field(default_factory=list)
    """Timed power-mode switches during a run."""
    power: PowerPolicy = PowerPolicy()
    """How the mode is chosen while running: fixed, a budget, or auto (the governor)."""
    pipelines: list[PipelineConfig] = Field(min_length=1)
    """The pipelines."""
    diagnostics: DiagnosticsConfig = DiagnosticsConfig()
    """Health thresholds of the per-pipeline reports."""

    @model_validator(mode="after")
    def _one_mode(self) -> PipelineSet:
        if self.power.mode is not None and self.power_mode is not None \
                and str(self.power.mode) != str(self.power_mode):
            raise ValueError(f"power_mode {self.power_mode} and power.mode {self.power.mode} "
                             "disagree; keep one")
        if self.power.governed and self.power_schedule:
            raise ValueError("power_schedule and a governed power (budget_w or auto) would "
                             "both switch modes; keep one")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> PipelineSet:
        seen: set[str] = set()
        for pipeline in self.pipelines:
            if pipeline.name in seen:
                raise ValueError(f"pipeline name '{pipeline.name}' is used twice; names must "
                                 "be unique")
            seen.add(pipeline.name)
        return self

    @model_validator(mode="after")
    def _one_pipeline_per_mcap_file(self) -> PipelineSet:
        owners: dict[Path, str] = {}
        for pipeline in self.pipelines:
            for sink in pipeline.sinks:
                if sink.type != "mcap":
                    continue
                if sink.path in owners and owners[sink.path] != pipeline.name:
                    raise ValueError(f"pipelines '{owners[sink.path]}' and '{pipeline.name}' "
                                     f"both record to {sink.path}; give each mcap sink a path "
                                     "of its own")
                owners[sink.path] = pipeline.name
        return self
