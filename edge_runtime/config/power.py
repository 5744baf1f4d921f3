"""Power profiles (``power/*.yaml``): a Jetson module's hardware and its nvpmodel modes.

A mode is a set of clock and core caps (nvpmodel does not meter power; ``budget_w`` is the
wattage in the mode's name). A cap of ``null`` means "no cap": the hardware maximum applies.
"""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from edge_runtime.config.base import ConfigModel
from edge_runtime.errors import UserError


class HardwareSpec(ConfigModel):
    """Fixed facts of the module, used by the simulated Jetson's roofline."""

    cpu_cores: int = Field(ge=1)
    """CPU cores on the module."""
    cpu_max_khz: int = Field(gt=0)
    """Highest CPU clock."""
    gpu_tpcs: int = Field(ge=1)
    """GPU texture processing clusters (2 SMs each on Orin)."""
    gpu_sms_per_tpc: int = Field(default=2, ge=1)
    """Streaming multiprocessors per TPC."""
    gpu_max_hz: int = Field(gt=0)
    """Highest GPU clock."""
    gpu_int8_ops_per_clk_per_sm: int = Field(default=4096, gt=0)
    """Dense INT8 tensor-core operations (2 per MAC) per clock per SM."""
    gpu_fp16_ops_per_clk_per_sm: int = Field(default=2048, gt=0)
    """Dense FP16 tensor-core operations per clock per SM."""
    gpu_fp32_ops_per_clk_per_sm: int = Field(default=256, gt=0)
    """FP32 CUDA-core operations per clock per SM (128 FMA lanes)."""
    dla_cores: int = Field(default=0, ge=0)
    """Deep Learning Accelerator cores."""
    dla_max_hz: int | None = Field(default=None, gt=0)
    """Highest DLA core clock."""
    dla_int8_ops_per_clk: int = Field(default=16384, gt=0)
    """Dense INT8 operations per clock of one DLA core."""
    dla_fp16_ops_per_clk: int = Field(default=8192, gt=0)
    """Dense FP16 operations per clock of one DLA core."""
    emc_max_hz: int = Field(gt=0)
    """Highest memory (EMC) clock."""
    memory_bus_bits: int = Field(gt=0)
    """DRAM bus width; bandwidth = 2 x EMC clock x width / 8 (LPDDR5, double data rate)."""

    @model_validator(mode="after")
    def _dla_clock(self) -> HardwareSpec:
        if self.dla_cores and self.dla_max_hz is None:
            raise ValueError("dla_max_hz is required when dla_cores > 0")
        return self


class PowerMode(ConfigModel):
    """One nvpmodel mode: caps on cores and clocks (``null`` = uncapped)."""

    id: int = Field(ge=0)
    """nvpmodel mode id (differs between modules and JetPack releases)."""
    name: str
    """nvpmodel mode name, e.g. ``MODE_15W`` or ``MAXN_SUPER``."""
    budget_w: float | None = Field(default=None, gt=0)
    """The wattage the mode is sized for (``null`` for MAXN)."""
    cpu_online: int = Field(ge=1)
    """CPU cores online."""
    cpu_max_khz: int | None = Field(default=None, gt=0)
    """CPU clock cap."""
    gpu_tpcs: int = Field(ge=1)
    """TPCs left powered (the rest are power-gated by TPC_PG_MASK)."""
    gpu_max_hz: int | None = Field(default=None, gt=0)
    """GPU clock cap."""
    dla_max_hz: list[int | None] = Field(default_factory=list)
    """DLA core clock cap, one entry per DLA core."""
    emc_max_hz: int | None = Field(default=None, gt=0)
    """Memory clock cap."""

    @property
    def label(self) -> str:
        """Short name for tables: ``MODE_15W`` -> ``15W``."""
        return re.sub(r"^MODE_", "", self.name)


class ThermalSpec(ConfigModel):
    """The simulated Jetson's first-order thermal model: one heat capacity behind one thermal
    resistance to ambient, ``C dT/dt = P - (T - ambient) / R``. The defaults are orders of
    magnitude for a module on its dev kit's stock cooler (about 1 K/W and a two-minute time
    constant), not fitted figures; L4T starts software throttling near 99 °C on ``tj``."""

    ambient_c: float = 25.0
    """Air temperature around the module."""
    resistance_k_per_w: float = Field(default=1.0, gt=0)
    """Junction to ambient, through the cooler."""
    capacity_j_per_k: float = Field(default=120.0, gt=0)
    """Module, heat spreader and cooler together."""
    throttle_c: float = Field(default=99.0, gt=0)
    """Where the module starts throttling its clocks."""
    release_c: float = Field(default=94.0, gt=0)
    """Where throttling ends again (below ``throttle_c``: a hysteresis, as L4T's trips)."""
    throttle_clock_ratio: float = Field(default=0.75, gt=0, le=1)
    """Clocks while throttled, as a share of the mode's."""

    @model_validator(mode="after")
    def _hysteresis(self) -> ThermalSpec:
        if self.release_c >= self.throttle_c:
            raise ValueError("release_c must be below throttle_c")
        return self


class PowerProfile(ConfigModel):
    """A Jetson module and its power modes."""

    module: str = Field(pattern=r"^[a-z0-9-]+$")
    """Profile name used in pipeline sets, e.g. ``jetson-agx-orin-32gb``."""
    name: str
    """Marketing name."""
    part_numbers: list[str] = Field(default_factory=list)
    """Module part numbers (p3701-0004, ...)."""
    nvpmodel_conf: str | None = None
    """The nvpmodel.conf these modes were read from (file name as shipped in L4T)."""
    sources: list[str] = Field(default_factory=list)
    """Where every figure in this file comes from."""
    hardware: HardwareSpec
    """Fixed hardware facts."""
    default_mode: int
    """nvpmodel id of the default mode (PM_CONFIG DEFAULT)."""
    modes: list[PowerMode] = Field(min_length=1)
    """The modes."""
    thermal: ThermalSpec = ThermalSpec()
    """The simulated Jetson's thermal model (a real module measures its own)."""

    @model_validator(mode="after")
    def _consistent(self) -> PowerProfile:
        ids = [m.id for m in self.modes]
        if len(set(ids)) != len(ids):
            raise ValueError("mode ids must be unique")
        if self.default_mode not in ids:
            raise ValueError(f"default_mode {self.default_mode} is not one of the mode ids {ids}")
        for mode in self.modes:
            if mode.gpu_tpcs > self.hardware.gpu_tpcs:
                raise ValueError(f"mode {mode.name}: gpu_tpcs exceeds the hardware's "
                                 f"{self.hardware.gpu_tpcs}")
            if mode.dla_max_hz and len(mode.dla_max_hz) != self.hardware.dla_cores:
                raise ValueError(f"mode {mode.name}: dla_max_hz needs one entry per DLA core "
                                 f"({self.hardware.dla_cores})")
        return self

    def find_mode(self, ref: str | int) -> PowerMode | None:
        """A mode by nvpmodel id, name (``MODE_15W``) or label (``15W``), case-insensitive."""
        for mode in self.modes:
            if isinstance(ref, int) and not isinstance(ref, bool):
                if mode.id == ref:
                    return mode
            elif str(ref).upper() in (mode.name.upper(), mode.label.upper(), str(mode.id)):
                return mode
        return None

    @property
    def default(self) -> PowerMode:
        mode = self.find_mode(self.default_mode)
        assert mode is not None  # checked by _consistent
        return mode

    def known_modes(self) -> str:
        return ", ".join(m.label for m in self.modes)

    def resolve(self, ref: str | int | None) -> PowerMode:
        """The mode ``ref`` names (None: the default); the one place a mode name is checked.
        Raises a UserError that lists the modes."""
        if ref is None:
            return self.default
        mode = self.find_mode(ref)
        if mode is None:
            raise UserError(f"unknown power mode '{ref}' for {self.module} "
                            f"(known: {self.known_modes()})")
        return mode

    def lane_clock_hz(self, mode: PowerMode, lane: str) -> float:
        """The compute clock a lane gets in ``mode`` (GPU: clock x TPCs online; DLA: its clock;
        CPU: clock x cores online): run times on a lane scale with its inverse."""
        hw = self.hardware
        if lane == "gpu":
            return float((mode.gpu_max_hz or hw.gpu_max_hz) * mode.gpu_tpcs)
        if lane.startswith("dla"):
            index = int(lane[3:] or 0)
            capped = mode.dla_max_hz[index] if index < len(mode.dla_max_hz) else None
            return float(capped or hw.dla_max_hz or 1)
        return float((mode.cpu_max_khz or hw.cpu_max_khz) * mode.cpu_online)
