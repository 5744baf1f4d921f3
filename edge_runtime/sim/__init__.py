"""The simulated Jetson: a roofline device model and power model of Orin modules.

The one sanctioned stand-in for hardware this machine lacks (GPU, DLA, power rails, nvpmodel).
"""

from edge_runtime.sim.device_model import Calibration, DeviceModel, Lane
from edge_runtime.sim.jetson import SimulatedJetson

__all__ = ["Calibration", "DeviceModel", "Lane", "SimulatedJetson"]
