"""The simulated Jetson module: a device model plus the power mode it is in now, and how hot
it is.

It stands in for the real module on hosts without one (no GPU, DLA, power rails or nvpmodel
here). Applying a mode changes the clocks the mock engines see from their next inference on,
as ``nvpmodel -m`` does on a device. Its temperature follows a first-order thermal model
(``config.power.ThermalSpec``) driven by the power the runtime's sampler tells it
(:meth:`SimulatedJetson.heat`); past the throttle point its clocks drop until it has cooled
below the release point, so throttling and recovery can be exercised on the simulated clock.
It is shared by lane threads, hence the lock.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping

from edge_runtime.config.power import PowerMode, PowerProfile, ThermalSpec
from edge_runtime.config.recipe import Precision
from edge_runtime.graph.analysis import CostProfile
from edge_runtime.power.telemetry import Rail, Telemetry
from edge_runtime.sim.device_model import DEFAULT_CALIBRATION, Calibration, DeviceModel, Lane


class SimulatedJetson:
    """A module in a power mode; answers 'how long would this engine take now?'."""

    simulated = True

    def __init__(self, profile: PowerProfile, mode: PowerMode | None = None,
                 calibration: Calibration = DEFAULT_CALIBRATION,
                 thermal: ThermalSpec | None = None) -> None:
        self.profile = profile
        self.model = DeviceModel(profile, calibration)
        self.thermal = thermal or profile.thermal
        self._mode = mode or profile.default
        self._lock = threading.Lock()
        self._temperature_c = self.thermal.ambient_c
        self._throttled = False
        self._watts: float | None = None

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
        return self.model.latency_s(cost, self.mode, lane, precision, batch) \
            / self.clock_ratio

    def power_w(self, utilisation: Mapping[Lane, float], mode: PowerMode | None = None) -> float:
        """Module power at ``utilisation``; while throttled the dynamic part scales with the
        lowered clocks (to first order: the voltage drop it also brings is left out)."""
        return self.model.power_w(mode or self.mode, utilisation) * self.clock_ratio

    # --- thermal -----------------------------------------------------------------------------

    @property
    def temperature_c(self) -> float:
        with self._lock:
            return self._temperature_c

    @property
    def throttled(self) -> bool:
        with self._lock:
            return self._throttled

    @property
    def clock_ratio(self) -> float:
        """The share of the mode's clocks the module runs at now (1 unless throttled)."""
        return self.thermal.throttle_clock_ratio if self.throttled else 1.0

    def heat(self, watts: float, seconds: float) -> float:
        """Dissipate ``watts`` for ``seconds``: the exact step of the first-order model
        (``T -> T_ss + (T - T_ss) e^(-t/RC)``, ``T_ss = ambient + P R``), then the throttle's
        hysteresis. Returns the new temperature."""
        spec = self.thermal
        steady = spec.ambient_c + watts * spec.resistance_k_per_w
        decay = math.exp(-max(seconds, 0.0) / (spec.resistance_k_per_w * spec.capacity_j_per_k))
        with self._lock:
            self._watts = watts
            self._temperature_c = steady + (self._temperature_c - steady) * decay
            if self._temperature_c >= spec.throttle_c:
                self._throttled = True
            elif self._temperature_c <= spec.release_c:
                self._throttled = False
            return self._temperature_c

    def telemetry(self) -> Telemetry:
        """What a module would measure of itself now: the power the sampler last reported
        (the simulated estimate, as one module-input rail) and the junction temperature."""
        with self._lock:
            watts, celsius, throttled = self._watts, self._temperature_c, self._throttled
        rails = {"VDD_IN": Rail("VDD_IN", watts=watts)} if watts is not None else {}
        return Telemetry("simulated", rails, watts, {"tj-thermal": round(celsius, 3)},
                         throttled=throttled)
