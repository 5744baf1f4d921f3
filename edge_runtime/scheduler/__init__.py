"""Scheduling: the decision core (pure policy) and the two clocks it runs on."""

from edge_runtime.scheduler.core import (
    Job,
    JobState,
    PipelineSpec,
    Scheduler,
    SchedulerError,
    Submitted,
)
from edge_runtime.scheduler.loop import EventLoop, RealtimeLoop, SimulatedLoop, Timer

__all__ = [
    "EventLoop",
    "Job",
    "JobState",
    "PipelineSpec",
    "RealtimeLoop",
    "Scheduler",
    "SchedulerError",
    "SimulatedLoop",
    "Submitted",
    "Timer",
]
