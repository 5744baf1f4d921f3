"""One pipeline of a running set: its stages around the engine, and its run state.

source -> preprocess -> (engine) -> postprocess. The engine step belongs to the scheduler and
the lanes; this object captures and prepares the engine's input and decodes its output, so the
same pipeline serves both clocks. Sinks are output subscribers (``runtime.outputs``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_runtime.config.pipeline import PipelineConfig
from edge_runtime.config.stages import CommandsPost, PreprocessConfig, TokenizeConfig
from edge_runtime.engines.base import BaseRunner
from edge_runtime.graph.metadata import label_list
from edge_runtime.graph.tensors import Feed, Outputs
from edge_runtime.pipelines.output import RawTensors
from edge_runtime.pipelines.postprocess import Decoder, Result, make_decoder
from edge_runtime.pipelines.preprocess import Preprocessor, spatial_size
from edge_runtime.pipelines.sources import BadFrameError, Empty, ExternalSource, Frame, Source
from edge_runtime.pipelines.text import CommandDecoder, TokenInput
from edge_runtime.runtime.faults import FaultTracker, Health

#: Prepared tensors a pipeline may have in flight beyond its queue: one running, one being
#: prepared, one spare for the frame that replaces a waiting one.
IN_FLIGHT_BUFFERS = 3


class Pipeline:
    """Everything a pipeline does around its engine, and whether it is taking frames."""

    def __init__(self, config: PipelineConfig, runner: BaseRunner, real_outputs: bool,
                 alternatives: Sequence[BaseRunner] = ()) -> None:
        self.config = config
        self.name = config.name
        self.runner = runner
        #: Every engine variant by name, the configured one first (the planner picks).
        self.variants: dict[str, BaseRunner] = {r.name: r for r in (runner, *alternatives)}
        self.variant = runner.name
        #: The planner's grant: the rate it may run at (None: the rate it wants) and whether
        #: it is paused, with the reason when it got less than it asked for.
        self.granted_rate_hz: float | None = None
        self.paused = False
        self.reason: str | None = None
        #: Variants that cannot be reached now (a remote server down), with why: the planner
        #: passes them over until the session's probe finds them back.
        self.down: dict[str, str] = {}
        self.real_outputs = real_outputs
        self._source: Source | None = None
        self.tokens: TokenInput | None = None
        self.command_decoder: CommandDecoder | None = None
        self.decoder: Decoder | None = None
        self.input_hw: tuple[int, int] | None = None
        self.extra_inputs: Feed = {}
        self.preprocessor: Preprocessor | None = None
        if isinstance(config.preprocess, TokenizeConfig):
            self._text_stages(config.preprocess, config.postprocess, runner)
        else:
            self._image_stages(config.preprocess, runner)
        self.faults = FaultTracker(config.name, config.faults)
        self.enabled = config.enabled
        self.exhausted = False
        self.rate_override: float | None = None
        self._feed_checked = False

    def _image_stages(self, preprocess: PreprocessConfig, runner: BaseRunner) -> None:
        config = self.config
        inputs = runner.input_specs()
        wanted = preprocess.input or inputs[0].name
        spec = next((s for s in inputs if s.name == wanted), None)
        if spec is None:
            raise ValueError(f"engine {runner.name} has no input '{wanted}'")
        self.input_name = wanted
        self.input_hw = spatial_size(spec.concrete_shape(), preprocess.layout)
        self.extra_inputs = {s.name: np.zeros(s.concrete_shape(), dtype=s.numpy_dtype)
                             for s in inputs if s.name != wanted}
        self.preprocessor = Preprocessor(preprocess, self.input_hw,
                                         config.queue_depth + IN_FLIGHT_BUFFERS)
        if config.postprocess is not None:
            self.decoder = make_decoder(config.postprocess, runner.manifest.labels,
                                        self.input_hw)

    def _text_stages(self, preprocess: TokenizeConfig, postprocess: object,
                     runner: BaseRunner) -> None:
        """Texts: a tokenizer in, a command decoder out (labels from the model metadata)."""
        self.input_name = "input_ids"
        self.tokens = TokenInput(preprocess)
        if isinstance(postprocess, CommandsPost):
            metadata = runner.manifest.metadata
            self.command_decoder = CommandDecoder(postprocess, self.tokens,
                                                  label_list(metadata, "intents"),
                                                  label_list(metadata, "slot_tags"))

    @property
    def source(self) -> Source:
        if self._source is None:
            raise RuntimeError(f"pipeline {self.name} has no open source (not active)")
        return self._source

    def open(self, source: Source) -> None:
        """Attach the source for an activation (sources start and stop with it)."""
        self._source = source
        self.exhausted = False

    @property
    def wanted_rate_hz(self) -> float | None:
        """The rate asked for: set live, else the pipeline's, else the source's; None =
        free-running (a file source) or driven by pushes (an external one)."""
        if self.rate_override or self.config.rate_hz:
            return self.rate_override or self.config.rate_hz
        if self._source is not None:
            return self._source.rate_hz
        fps = getattr(self.config.source, "fps", None)  # before activate: what it will open
        return float(fps) if fps else None

    @property
    def rate_hz(self) -> float | None:
        """Processing rate: the planner's grant, else the rate asked for."""
        wanted = self.wanted_rate_hz
        if wanted is not None and self.granted_rate_hz is not None:
            return min(wanted, self.granted_rate_hz)
        return wanted

    @property
    def deadline_s(self) -> float | None:
        """Capture-to-output deadline: the configured one, else one period of the rate asked
        for (a slowed pipeline keeps its deadline)."""
        return self.config.deadline_for(self.wanted_rate_hz)

    def use_variant(self, name: str) -> bool:
        """Run engine variant ``name`` from the next frame on; True if that changed it."""
        if name == self.variant:
            return False
        self.runner = self.variants[name]
        self.variant = name
        self._feed_checked = False
        return True

    @property
    def max_length(self) -> int:
        """A text pipeline's longest token sequence (0 for an image pipeline)."""
        return self.tokens.config.max_length if self.tokens is not None else 0

    @property
    def external(self) -> ExternalSource | None:
        return self._source if isinstance(self._source, ExternalSource) else None

    @property
    def health(self) -> Health:
        if self.faults.failed:
            return Health.FAILED
        if not self.enabled:
            return Health.DISABLED
        if self.paused:
            return Health.PAUSED
        if self.exhausted:
            return Health.EXHAUSTED
        return Health.RUNNING

    @property
    def taking_frames(self) -> bool:
        return self.health is Health.RUNNING

    def capture(self, now: float) -> Frame | Empty:
        """The newest frame; raises ``BadFrameError`` for one the source cannot decode."""
        return self.source.read(now)

    def prepare(self, frame: Frame) -> Feed:
        """The engine's feed for a frame. The first feed is checked against the engine; later
        ones have the same layout (reused buffers), so the lane runs them unchecked."""
        if self.tokens is not None:
            if frame.text is None:
                raise BadFrameError(f"{self.name} frame {frame.index}: no text")
            feed = self.tokens(frame.text)
        else:
            assert self.preprocessor is not None
            feed = {self.input_name: self.preprocessor(frame.image), **self.extra_inputs}
        if not self._feed_checked:
            self.runner.check_feed(feed)
            self._feed_checked = True
        return feed

    def decode(self, outputs: Outputs, frame: Frame) -> Result | RawTensors:
        if self.command_decoder is not None and frame.text is not None:
            return self.command_decoder(outputs, frame.text)
        if self.decoder is None:
            return RawTensors(outputs)
        return self.decoder(outputs, (int(frame.image.shape[0]), int(frame.image.shape[1])))

    def close(self, owned: bool = True) -> None:
        """Detach the source, closing it unless the host injected it (the host owns it)."""
        if self._source is not None and owned:
            self._source.close()
        self._source = None
