"""The simulated Jetson module: a device model plus the power mode it is in now.

It stands in for the real module on hosts without one (no GPU, DLA, power rails or nvpmodel
here). Applying a mode changes the clocks the mock engines see from their next inference on,
as ``nvpmodel -m`` does on a device. It is shared by lane threads, hence the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from edge_runtime.config.power import PowerMode, PowerProfile
from edge_runtime.config.recipe import Precision
from edge_runtime.graph.analysis import CostProfile
from edge_runtime.sim.device_model import DEFAULT_CALIBRATION, Calibration, DeviceModel, Lane


class SimulatedJetson:
    """A module in a power mode; answers 'how long would this engine take now?'."""

    simulated = True

    def __init__(self, profile: PowerProfile, mode: PowerMode | None = None,
                 calibration: Calibration = DEFAULT_CALIBRATION) -> None:
        self.profile = profile
        self.model = DeviceModel(profile, calibration)
        self._mode = mode or profile.default
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"simulated {self.profile.name}"

    @property
    def mode(self) -> PowerMode:
        with self._lock:
            return self._mode

    def apply_mode(self, mode: PowerMode) -> None:
        """Switch power mode (instant here; a real nvpmodel switch takes tens of ms)."""
        if self.profile.find_mode(mode.id) is None:
            raise ValueError(f"mode {mode.name} is not a mode of {self.profile.name}")
        with self._lock:
            self._mode = mode

    def lanes(self) -> list[Lane]:
        lanes = [Lane.GPU]
        lanes += [Lane.DLA0, Lane.DLA1][: self.profile.hardware.dla_cores]
        return lanes

    def engine_latency_s(self, cost: CostProfile, lane: Lane, precision: Precision,
                         batch: int = 1) -> float:
        return self.model.latency_s(cost, self.mode, lane, precision, batch)

    def power_w(self, utilisation: Mapping[Lane, float], mode: PowerMode | None = None) -> float:
        return self.model.power_w(mode or self.mode, utilisation)
