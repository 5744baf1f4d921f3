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


def thermal_zones(root: Path = Path("/")) -> tuple[list[tuple[str, float | None]], list[str]]:
    """Every zone under ``root`` as (type, °C, or None while power-gated), in zone order, and
    the zones that could not be read (``thermal_zone3: Permission denied``)."""
    zones: list[tuple[str, float | None]] = []
    errors: list[str] = []
    for zone in sorted((root / THERMAL_DIR).glob("thermal_zone*"),
                       key=lambda p: (len(p.name), p.name)):
        try:
            name = (zone / "type").read_text(encoding="utf-8").strip()
            celsius = int((zone / "temp").read_text(encoding="utf-8").strip()) / 1000
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            errors.append(f"{zone.name}: {reason}")
            continue
        zones.append((name or zone.name, None if celsius <= OFFLINE_C else celsius))
    return zones, errors


def read_thermal_zones(root: Path = Path("/")) -> dict[str, float]:
    """``{zone type: °C}`` for every readable, online zone under ``root`` (the metrics)."""
    return {name: celsius for name, celsius in thermal_zones(root)[0] if celsius is not None}
