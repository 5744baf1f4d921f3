"""The power manager: which mode the module is in, and switching it at run time.

Policy apart from mechanism again: the manager validates and records mode changes and tells its
listeners; a :class:`PowerDevice` applies them (the simulated Jetson here; ``nvpmodel -m`` on a
device). Modes are resolved by name from the module's profile, never by a hard-coded id, since
ids differ between modules and JetPack releases.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from edge_runtime.config.power import PowerMode, PowerProfile
from edge_runtime.power.telemetry import Telemetry

Listener = Callable[[PowerMode, PowerMode], None]


class PowerDevice(Protocol):
    """Something that can be put into a power mode."""

    @property
    def name(self) -> str: ...

    @property
    def simulated(self) -> bool:
        """True for the simulated Jetson (engines on this host do not follow its clocks)."""

    @property
    def mode(self) -> PowerMode: ...

    def apply_mode(self, mode: PowerMode) -> None: ...

    def telemetry(self) -> Telemetry:
        """What the module measures of itself now (rails, temperatures, clocks); fields it
        cannot read are None and listed in ``Telemetry.unknown``, never an exception."""


class PowerManager:
    """Holds the current mode of one module and switches it."""

    def __init__(self, profile: PowerProfile, device: PowerDevice) -> None:
        self.profile = profile
        self.device = device
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self.switches = 0

    @property
    def mode(self) -> PowerMode:
        return self.device.mode

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners = [known for known in self._listeners if known != listener]

    def switch(self, ref: str | int) -> PowerMode:
        """Switch to the mode ``ref`` names (``15W``, ``MODE_15W`` or an id); unknown names
        raise a UserError listing the modes. Switching to the current mode does nothing."""
        target = self.profile.resolve(ref)
        with self._lock:
            previous = self.device.mode
            if target.id == previous.id:
                return previous
            self.device.apply_mode(target)
            self.switches += 1
        for listener in self._listeners:
            listener(previous, target)
        return target
