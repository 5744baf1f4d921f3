"""One pipeline's stages, wired: source -> preprocess -> (engine) -> postprocess -> sinks.

The engine step itself belongs to the scheduler and the lanes; this object only prepares its
input and finishes its output, so the same stages serve both clocks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge_runtime.config.pipeline import PipelineConfig
from edge_runtime.engines.base import BaseRunner, Feed, Outputs
from edge_runtime.pipelines.postprocess import Decoder, Result, make_decoder
from edge_runtime.pipelines.preprocess import preprocess_frame, spatial_size
from edge_runtime.pipelines.sinks import Record, Sink, open_sink
from edge_runtime.pipelines.sources import Frame, Source, open_source


class PipelineStages:
    """Everything a pipeline does around its engine."""

    def __init__(self, config: PipelineConfig, runner: BaseRunner, real_outputs: bool) -> None:
        self.config = config
        self.name = config.name
        self.runner = runner
        self.real_outputs = real_outputs
        inputs = runner.input_specs()
        wanted = config.preprocess.input or inputs[0].name
        spec = next((s for s in inputs if s.name == wanted), None)
        if spec is None:
            raise ValueError(f"engine {runner.name} has no input '{wanted}'")
        self.input_name = wanted
        self.input_hw = spatial_size(spec.concrete_shape(), config.preprocess.layout)
        self.extra_inputs = {s.name: np.zeros(s.concrete_shape(), dtype=s.numpy_dtype)
                             for s in inputs if s.name != wanted}
        self.decoder: Decoder | None = None
        if config.postprocess is not None:
            self.decoder = make_decoder(config.postprocess, runner.manifest.labels,
                                        self.input_hw)
        self.source: Source = open_source(config.source)
        self.sinks: list[Sink] = []
        try:
            self.sinks = [open_sink(sink, config.name) for sink in config.sinks]
        except BaseException:
            self.close()
            raise

    @property
    def rate_hz(self) -> float | None:
        """Processing rate: the pipeline's, else the source's; None = free-running."""
        return self.config.rate_hz or self.source.rate_hz

    def capture(self, now: float) -> Frame | None:
        return self.source.read(now)

    def feed(self, frame: Frame) -> Feed:
        tensor = preprocess_frame(frame.image, self.config.preprocess, self.input_hw)
        return {self.input_name: tensor, **self.extra_inputs}

    def decode(self, outputs: Outputs) -> Result | None:
        if self.decoder is None:
            return None
        return self.decoder(outputs)

    def emit(self, frame: Frame, result: Result | None, outputs: Outputs, latency_s: float,
             mode: str) -> None:
        if not self.sinks:
            return
        record: Record = {
            "pipeline": self.name,
            "frame": frame.index,
            "capture_ts": round(frame.capture_time, 6),
            "latency_ms": round(latency_s * 1e3, 3),
            "power_mode": mode,
            "outputs": result.to_record() if result is not None else _raw(outputs),
        }
        for sink in self.sinks:
            sink.write(record)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        self.source.close()


def _raw(outputs: Outputs) -> dict[str, object]:
    """Undecoded outputs: shapes and a few statistics, not megabytes of numbers."""
    summary: dict[str, object] = {}
    for name, value in outputs.items():
        array: npt.NDArray[np.float64] = np.asarray(value, dtype=np.float64)
        summary[name] = {"shape": list(array.shape),
                         "mean": round(float(array.mean()), 6) if array.size else None}
    return summary
