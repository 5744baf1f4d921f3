"""Reading a module's temperatures from sysfs (real on a Jetson, and on any Linux host that
has thermal zones; the simulated Jetson has none, and the metrics then show none).

Layout (Linux thermal class, the same on L4T): ``/sys/devices/virtual/thermal/thermal_zone<N>/``
with ``type`` (the zone's name: ``cpu-thermal``, ``tj-thermal``, ... on JetPack 6) and ``temp``
in millidegrees Celsius. A sensor in a power-gated domain (the GPU or CV zones of an idle AGX
Orin on JetPack 5) reads -256 °C: that is "offline", not a temperature, and is left out.
"""

from __future__ import annotations

from pathlib import Path

THERMAL_DIR = "sys/devices/virtual/thermal"
#: What L4T reports for a sensor whose domain is power-gated.
OFFLINE_C = -256.0


def read_thermal_zones(root: Path = Path("/")) -> dict[str, float]:
    """``{zone type: °C}`` for every readable, online zone under ``root``."""
    zones: dict[str, float] = {}
    for zone in sorted((root / THERMAL_DIR).glob("thermal_zone*")):
        try:
            name = (zone / "type").read_text(encoding="ascii").strip()
            celsius = int((zone / "temp").read_text(encoding="ascii").strip()) / 1000
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if celsius > OFFLINE_C and name:
            zones[name] = celsius
    return zones
