"""Hardware facts of the Jetson modules edge-runtime ships profiles for, each with its source
(the data half of tools/gen_power_profiles.py; the modes come from the nvpmodel confs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    """One hardware figure and where it comes from (written as a comment next to it)."""

    value: int | None
    source: str


@dataclass(frozen=True)
class Module:
    """One profile to generate: the conf its modes come from and the module's hardware."""

    stem: str
    name: str
    part_numbers: tuple[str, ...]
    conf: str
    header: tuple[str, ...]
    """Paragraphs of the file's leading comment (wrapped when written)."""
    sources: tuple[str, ...]
    hardware: Mapping[str, Fact]


# Sources quoted by more than one module.
AGX_DS = "NVIDIA Jetson AGX Orin series data sheet DS-10662-001, module specifications"
NX_DS = "NVIDIA Jetson Orin NX series data sheet DS-10712-001, module specifications"
NANO_DS = "NVIDIA Jetson Orin Nano series data sheet, module specifications"
SUPER_SPEC = "NVIDIA JetPack 6.2 Super Mode module specifications (Orin Nano / Orin NX)"
MODES_YAML = "shared/fixtures/jetson/power_modes/orin_power_modes.yaml"
GPU_SYSFS = "shared/fixtures/jetson/telemetry/gpu_sysfs.yaml"
PEAK_RATES = "peak rates: shared/fixtures/jetson/benchmarks/orin_peak_tops_by_power_mode.csv"
RATE = "Orin GA10B SM, see header"
DLA_RATE = "NVDLA v2, see header"


def _rates(dla: bool) -> dict[str, Fact]:
    """The per-clock rates every Orin module shares (derived in jetson-agx-orin-32gb.yaml)."""
    rates = {
        "gpu_sms_per_tpc": Fact(2, RATE),
        "gpu_int8_ops_per_clk_per_sm": Fact(4096, RATE),
        "gpu_fp16_ops_per_clk_per_sm": Fact(2048, RATE),
        "gpu_fp32_ops_per_clk_per_sm": Fact(256, RATE),
        "dla_int8_ops_per_clk": Fact(16384, DLA_RATE),
        "dla_fp16_ops_per_clk": Fact(8192, DLA_RATE),
    }
    if not dla:
        rates["dla_int8_ops_per_clk"] = Fact(16384, "schema default; no DLA")
        rates["dla_fp16_ops_per_clk"] = Fact(8192, "schema default; no DLA")
    return rates


def _hardware(**facts: Fact) -> dict[str, Fact]:
    """The hardware block in the schema's order."""
    order = ["cpu_cores", "cpu_max_khz", "gpu_tpcs", "gpu_sms_per_tpc", "gpu_max_hz",
             "gpu_int8_ops_per_clk_per_sm", "gpu_fp16_ops_per_clk_per_sm",
             "gpu_fp32_ops_per_clk_per_sm", "dla_cores", "dla_max_hz", "dla_int8_ops_per_clk",
             "dla_fp16_ops_per_clk", "emc_max_hz", "memory_bus_bits"]
    facts = {**_rates(bool(facts["dla_cores"].value)), **facts}
    return {key: facts[key] for key in order}


MODULES: tuple[Module, ...] = (
    Module(
        stem="jetson-agx-orin-32gb",
        name="Jetson AGX Orin 32GB",
        part_numbers=("p3701-0004",),
        conf="nvpmodel_p3701_0004.conf",
        header=(
            "Jetson AGX Orin 32GB (P3701-0004): hardware and nvpmodel power modes.",
            "Modes: transcribed from L4T's nvpmodel_p3701_0004.conf (JetPack 5.x/6.x), the copy in "
            "../shared/fixtures/jetson/nvpmodel/ (source: NVIDIA L4T, as carried in "
            "LineageOS/android_device_nvidia_concord, nvpmodel/), field by field as in "
            "../shared/fixtures/jetson/power_modes/orin_power_modes.yaml. null = uncapped "
            "(conf -1, or EMC 0). The 32GB GPU has 7 TPCs: TPC_PG_MASK bit 7 is set in every "
            "mode and does not count.",
            "Hardware maxima for the 32GB module (GPU 930.75 MHz, DLA 1.4 GHz, 7 TPCs, 8 A78AE "
            "cores at 2.2 GHz, 256-bit LPDDR5 at 3199 MHz = 204.8 GB/s): NVIDIA Jetson AGX Orin "
            "series module specifications (data sheet DS-10662-001); not part of the shared "
            "fixtures.",
            "Tensor-core rates: Orin GA10B SM = 4 third-generation tensor cores, 2048 dense INT8 "
            "MACs per clock (171 sparse INT8 TOPS = 16 SMs x 1.3005 GHz x 8192 sparse ops/clk; see "
            "orin_peak_tops_by_power_mode.csv). DLA: 105 sparse INT8 TOPS for two cores at 1.6 GHz "
            "on the 64GB module = 16384 dense INT8 ops per clock per core.",
        ),
        sources=(
            "modes: L4T nvpmodel_p3701_0004.conf (shared/fixtures/jetson/nvpmodel/)",
            f"hardware maxima: {AGX_DS}",
            PEAK_RATES,
        ),
        hardware=_hardware(
            cpu_cores=Fact(8, "data sheet"),
            cpu_max_khz=Fact(2201600, "data sheet (2.2 GHz)"),
            gpu_tpcs=Fact(7, "data sheet (14 SMs)"),
            gpu_max_hz=Fact(930750000, "data sheet"),
            dla_cores=Fact(2, "data sheet"),
            dla_max_hz=Fact(1408000000, "data sheet (1.4 GHz)"),
            emc_max_hz=Fact(3199000000, "data sheet (204.8 GB/s)"),
            memory_bus_bits=Fact(256, "data sheet"),
        ),
    ),
    Module(
        stem="jetson-agx-orin-64gb",
        name="Jetson AGX Orin 64GB",
        part_numbers=("p3701-0005", "p3701-0000"),
        conf="nvpmodel_p3701_0000.conf",
        header=(
            "Jetson AGX Orin 64GB (P3701-0005; P3701-0000 on the original developer kit): hardware "
            "and modes.",
            "Modes: transcribed from L4T's nvpmodel_p3701_0000.conf (JetPack 5.x), the copy in "
            "../shared/fixtures/jetson/nvpmodel/ (source: NVIDIA L4T, as carried in "
            "LineageOS/android_device_nvidia_concord, nvpmodel/). null = uncapped (conf -1, or EMC "
            "0).",
            "Hardware maxima: jetson_clocks --show at MAXN on a 64GB developer kit "
            "(catid/blog2022, content/posts/orin_opt.md, April 2023), as transcribed in "
            "../shared/fixtures/jetson/power_modes/orin_power_modes.yaml (observed_max_clocks). "
            "Core, TPC and DLA counts: the same file (hardware). Bus width: data sheet "
            "DS-10662-001 (256-bit LPDDR5, 204.8 GB/s).",
            "Tensor-core and DLA rates: as in jetson-agx-orin-32gb.yaml.",
        ),
        sources=(
            "modes: L4T nvpmodel_p3701_0000.conf (shared/fixtures/jetson/nvpmodel/)",
            "hardware maxima: jetson_clocks --show, MAXN, 64GB dev kit (catid/blog2022 "
            "orin_opt.md)",
            f"bus width: {AGX_DS}",
            PEAK_RATES,
        ),
        hardware=_hardware(
            cpu_cores=Fact(12, "fixture: orin_power_modes.yaml hardware"),
            cpu_max_khz=Fact(2201600, "fixture: observed_max_clocks"),
            gpu_tpcs=Fact(8, "fixture: orin_power_modes.yaml hardware"),
            gpu_max_hz=Fact(1300500000, "fixture: observed_max_clocks"),
            dla_cores=Fact(2, "fixture: orin_power_modes.yaml hardware"),
            dla_max_hz=Fact(1600000000, "fixture: observed_max_clocks"),
            emc_max_hz=Fact(3199000000, "fixture: observed_max_clocks"),
            memory_bus_bits=Fact(256, "data sheet DS-10662-001"),
        ),
    ),
    Module(
        stem="jetson-orin-nx-16gb",
        name="Jetson Orin NX 16GB",
        part_numbers=("p3767-0000",),
        conf="nvpmodel_p3767_0000_super.conf",
        header=(
            'Jetson Orin NX 16GB (P3767-0000), JetPack 6.2 "Super": hardware and nvpmodel power '
            "modes.",
            "Modes: L4T's nvpmodel_p3767_0000_super.conf (NVIDIA header (c) 2024), the copy in "
            "../shared/fixtures/jetson/nvpmodel/ (source: NVIDIA L4T, as carried in "
            "LineageOS/android_device_nvidia_concord, nvpmodel/). null = uncapped (conf -1). "
            "MAXN_SUPER replaces MAXN and the default is the new 40W mode (id 4). The 10W and 15W "
            "modes cap the two DLA cores differently (dla_max_hz lists DLA0, DLA1). For JetPack 5 "
            "(nvpmodel_p3767_0000.conf) see jetson-orin-nx-16gb-jp5.yaml.",
            "Hardware: core, TPC and DLA counts from "
            "../shared/fixtures/jetson/power_modes/orin_power_modes.yaml (hardware). CPU max: "
            "jetson_clocks --show at MAXN on JetPack 5 (open-rdc/orne-box issue 121, "
            "observed_max_clocks there); the Super conf does not raise the CPU clock. GPU and EMC "
            "max: nvpmodel -q --verbose at 40W, L4T R36.5 (observed_40w there; 1173 MHz is also "
            "the 40W mode's GPU cap). DLA max: the highest DLA cap of any mode (40W, 908.8 MHz); "
            "MAXN_SUPER leaves the DLAs uncapped, so the real ceiling may be higher, and neither "
            "the fixtures nor the data sheet cited here give it. Bus width: NVIDIA Jetson Orin NX "
            "series data sheet DS-10712-001 (128-bit LPDDR5, 102.4 GB/s).",
            "Tensor-core and DLA rates: as in jetson-agx-orin-32gb.yaml (same Orin GA10B SM and "
            "NVDLA v2).",
        ),
        sources=(
            "modes: L4T nvpmodel_p3767_0000_super.conf (shared/fixtures/jetson/nvpmodel/)",
            f"hardware counts, CPU/GPU/EMC maxima: {MODES_YAML} (hardware, observed_max_clocks, "
            "observed_40w)",
            "DLA maximum: the highest DLA core cap of any mode in the conf",
            f"bus width: {NX_DS}",
        ),
        hardware=_hardware(
            cpu_cores=Fact(8, "fixture: orin_power_modes.yaml hardware"),
            cpu_max_khz=Fact(1984000, "fixture: observed_max_clocks (JetPack 5, MAXN)"),
            gpu_tpcs=Fact(4, "fixture: orin_power_modes.yaml hardware"),
            gpu_max_hz=Fact(1173000000, "fixture: observed_40w (= the 40W cap)"),
            dla_cores=Fact(2, "fixture: orin_power_modes.yaml hardware"),
            dla_max_hz=Fact(908800000, "conf: highest DLA cap of any mode (40W); a lower bound"),
            emc_max_hz=Fact(3199000000, "fixture: observed_40w"),
            memory_bus_bits=Fact(128, "data sheet DS-10712-001"),
        ),
    ),
    Module(
        stem="jetson-orin-nx-16gb-jp5",
        name="Jetson Orin NX 16GB (JetPack 5)",
        part_numbers=("p3767-0000",),
        conf="nvpmodel_p3767_0000.conf",
        header=(
            "Jetson Orin NX 16GB (P3767-0000), JetPack 5: hardware and nvpmodel power modes.",
            "Modes: L4T's nvpmodel_p3767_0000.conf (NVIDIA header (c) 2021-2022), the copy in "
            "../shared/fixtures/jetson/nvpmodel/ (source: NVIDIA L4T, as carried in "
            "LineageOS/android_device_nvidia_concord, nvpmodel/). null = uncapped (conf -1, or EMC "
            "0). The 10W mode caps the two DLA cores differently (dla_max_hz lists DLA0, DLA1). "
            "For the JetPack 6.2 Super conf see jetson-orin-nx-16gb.yaml.",
            "Hardware: core, TPC and DLA counts from "
            "../shared/fixtures/jetson/power_modes/orin_power_modes.yaml (hardware). CPU max: "
            "jetson_clocks --show at MAXN (open-rdc/orne-box issue 121, observed_max_clocks "
            "there). EMC max: the observed range in "
            "../shared/fixtures/jetson/telemetry/gpu_sysfs.yaml (max_orin_agx_nx). GPU max (918 "
            "MHz) and bus width (128-bit LPDDR5, 102.4 GB/s): NVIDIA Jetson Orin NX series data "
            "sheet DS-10712-001; not part of the shared fixtures. DLA max: the highest DLA cap of "
            "any mode (15W and 25W, 614.4 MHz); MAXN leaves the DLAs uncapped. It agrees with "
            "NVIDIA's 100 sparse INT8 TOPS for this module: 8 SMs x 918 MHz x 8192 + 2 DLAs x "
            "614.4 MHz x 32768 = 100.4 TOPS.",
            "Tensor-core and DLA rates: as in jetson-agx-orin-32gb.yaml (same Orin GA10B SM and "
            "NVDLA v2).",
        ),
        sources=(
            "modes: L4T nvpmodel_p3767_0000.conf (shared/fixtures/jetson/nvpmodel/)",
            f"hardware counts, CPU maximum: {MODES_YAML} (hardware, observed_max_clocks)",
            f"EMC maximum: {GPU_SYSFS} (emc observed_range_hz)",
            f"GPU maximum, bus width: {NX_DS}",
            "DLA maximum: the highest DLA core cap of any mode in the conf",
        ),
        hardware=_hardware(
            cpu_cores=Fact(8, "fixture: orin_power_modes.yaml hardware"),
            cpu_max_khz=Fact(1984000, "fixture: observed_max_clocks (MAXN)"),
            gpu_tpcs=Fact(4, "fixture: orin_power_modes.yaml hardware"),
            gpu_max_hz=Fact(918000000, "data sheet DS-10712-001"),
            dla_cores=Fact(2, "fixture: orin_power_modes.yaml hardware"),
            dla_max_hz=Fact(614400000, "conf: highest DLA cap of any mode (15W, 25W)"),
            emc_max_hz=Fact(3199000000, "fixture: gpu_sysfs.yaml emc observed_range_hz"),
            memory_bus_bits=Fact(128, "data sheet DS-10712-001"),
        ),
    ),
    Module(
        stem="jetson-orin-nano-8gb",
        name="Jetson Orin Nano 8GB",
        part_numbers=("p3767-0003", "p3767-0005"),
        conf="nvpmodel_p3767_0003_super.conf",
        header=(
            'Jetson Orin Nano 8GB (P3767-0003; P3767-0005 on the developer kit), JetPack 6.2 '
            '"Super": hardware and nvpmodel power modes.',
            "Modes: L4T's nvpmodel_p3767_0003_super.conf (NVIDIA header (c) 2024; L4T uses it for "
            "both part numbers), the copy in ../shared/fixtures/jetson/nvpmodel/ (source: NVIDIA "
            "L4T, as carried in LineageOS/android_device_nvidia_concord, nvpmodel/). null = "
            "uncapped (conf -1). The default is 25W (id 1); MAXN_SUPER is id 2. For JetPack 5 see "
            "jetson-orin-nano-8gb-jp5.yaml.",
            "Orin Nano has no DLA: dla_cores is 0 and the modes list no DLA caps. This conf sets "
            "no DLA clock; the generator would ignore one if it did.",
            "Hardware: core and TPC counts from "
            "../shared/fixtures/jetson/power_modes/orin_power_modes.yaml (hardware). CPU max 1.7 "
            "GHz and GPU max 1020 MHz: NVIDIA's JetPack 6.2 Super Mode specifications, not part of "
            "the fixtures (1728000 kHz and 1020 MHz are also the 25W caps of the Orin Nano 4GB "
            "Super conf, nvpmodel_p3767_0004_super.conf). EMC max: the observed range in "
            "../shared/fixtures/jetson/telemetry/gpu_sysfs.yaml (max_orin_nano_super; also this "
            "conf's 25W cap; 102 GB/s). Bus width: NVIDIA Jetson Orin Nano series data sheet "
            "(128-bit LPDDR5).",
            "Tensor-core rates: as in jetson-agx-orin-32gb.yaml (same Orin GA10B SM).",
        ),
        sources=(
            "modes: L4T nvpmodel_p3767_0003_super.conf (shared/fixtures/jetson/nvpmodel/)",
            f"hardware counts: {MODES_YAML} (hardware)",
            f"CPU and GPU maxima: {SUPER_SPEC}",
            f"EMC maximum: {GPU_SYSFS} (emc observed_range_hz)",
            f"bus width: {NANO_DS}",
        ),
        hardware=_hardware(
            cpu_cores=Fact(6, "fixture: orin_power_modes.yaml hardware"),
            cpu_max_khz=Fact(1728000, "Super Mode spec (1.7 GHz)"),
            gpu_tpcs=Fact(4, "fixture: orin_power_modes.yaml hardware"),
            gpu_max_hz=Fact(1020000000, "Super Mode spec"),
            dla_cores=Fact(0, "fixture: orin_power_modes.yaml hardware"),
            dla_max_hz=Fact(None, "no DLA"),
            emc_max_hz=Fact(3199000000, "fixture: gpu_sysfs.yaml emc observed_range_hz"),
            memory_bus_bits=Fact(128, "data sheet"),
        ),
    ),
    Module(
        stem="jetson-orin-nano-8gb-jp5",
        name="Jetson Orin Nano 8GB (JetPack 5)",
        part_numbers=("p3767-0003", "p3767-0005"),
        conf="nvpmodel_p3767_0003.conf",
        header=(
            "Jetson Orin Nano 8GB (P3767-0003; P3767-0005 on the developer kit), JetPack 5: "
            "hardware and nvpmodel power modes.",
            "Modes: L4T's nvpmodel_p3767_0003.conf (NVIDIA header (c) 2021-2022), the copy in "
            "../shared/fixtures/jetson/nvpmodel/ (source: NVIDIA L4T, as carried in "
            "LineageOS/android_device_nvidia_concord, nvpmodel/). null = uncapped (conf -1, or EMC "
            "0). The 15W default sets no cap at all. For the JetPack 6.2 "
            "Super conf see jetson-orin-nano-8gb.yaml.",
            "Orin Nano has no DLA: dla_cores is 0 and the modes list no DLA caps. This conf sets "
            "no DLA clock; the generator would ignore one if it did.",
            "Hardware: core and TPC counts from "
            "../shared/fixtures/jetson/power_modes/orin_power_modes.yaml (hardware). CPU max 1.5 "
            "GHz and GPU max 625 MHz: NVIDIA Jetson Orin Nano series data sheet; the values "
            "written are the clock steps a device reports for them, 1510.4 MHz and 624.75 MHz "
            "(observed_15w in orin_power_modes.yaml). EMC max: the observed range in "
            "../shared/fixtures/jetson/telemetry/gpu_sysfs.yaml (max_orin_nano_jp5; 68 GB/s in the "
            "data sheet). Bus width: the data sheet (128-bit LPDDR5).",
            "Tensor-core rates: as in jetson-agx-orin-32gb.yaml (same Orin GA10B SM).",
        ),
        sources=(
            "modes: L4T nvpmodel_p3767_0003.conf (shared/fixtures/jetson/nvpmodel/)",
            f"hardware counts, CPU and GPU clock steps: {MODES_YAML} (hardware, observed_15w)",
            f"CPU and GPU maxima, bus width: {NANO_DS}",
            f"EMC maximum: {GPU_SYSFS} (emc observed_range_hz)",
        ),
        hardware=_hardware(
            cpu_cores=Fact(6, "fixture: orin_power_modes.yaml hardware"),
            cpu_max_khz=Fact(1510400, "data sheet 1.5 GHz; the step from fixture observed_15w"),
            gpu_tpcs=Fact(4, "fixture: orin_power_modes.yaml hardware"),
            gpu_max_hz=Fact(624750000, "data sheet 625 MHz; the step from fixture observed_15w"),
            dla_cores=Fact(0, "fixture: orin_power_modes.yaml hardware"),
            dla_max_hz=Fact(None, "no DLA"),
            emc_max_hz=Fact(2133000000, "fixture: gpu_sysfs.yaml emc observed_range_hz"),
            memory_bus_bits=Fact(128, "data sheet"),
        ),
    ),
)
