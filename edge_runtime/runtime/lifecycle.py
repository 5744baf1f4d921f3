"""The runtime's lifecycle: the states and transitions of a ROS 2 managed node.

``unconfigured --configure--> inactive --activate--> active``, and back with ``deactivate``
and ``cleanup``; ``shutdown`` from any state ends in ``finalized``. The legal moves are the table
:data:`TRANSITIONS`, as the scheduler core's job states are: an illegal transition raises
:class:`LifecycleError` and changes nothing. Keeping the ROS 2 names means the ROS 2 node maps
its lifecycle callbacks one to one, with no translation table of its own.
"""

from __future__ import annotations

import enum


class State(str, enum.Enum):
    UNCONFIGURED = "unconfigured"
    INACTIVE = "inactive"
    ACTIVE = "active"
    FINALIZED = "finalized"


class Transition(str, enum.Enum):
    CONFIGURE = "configure"
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    CLEANUP = "cleanup"
    SHUTDOWN = "shutdown"


TRANSITIONS: dict[tuple[State, Transition], State] = {
    (State.UNCONFIGURED, Transition.CONFIGURE): State.INACTIVE,
    (State.INACTIVE, Transition.ACTIVATE): State.ACTIVE,
    (State.ACTIVE, Transition.DEACTIVATE): State.INACTIVE,
    (State.INACTIVE, Transition.CLEANUP): State.UNCONFIGURED,
    (State.UNCONFIGURED, Transition.SHUTDOWN): State.FINALIZED,
    (State.INACTIVE, Transition.SHUTDOWN): State.FINALIZED,
    (State.ACTIVE, Transition.SHUTDOWN): State.FINALIZED,
}


class LifecycleError(RuntimeError):
    """A transition the lifecycle does not allow from the current state (a host's bug)."""


def next_state(state: State, transition: Transition) -> State:
    """The state ``transition`` leads to from ``state``; raises if it is not allowed."""
    try:
        return TRANSITIONS[(state, transition)]
    except KeyError:
        allowed = sorted(t.value for (s, t) in TRANSITIONS if s is state)
        raise LifecycleError(f"cannot {transition.value} a runtime that is {state.value} "
                             f"(allowed: {', '.join(allowed) or 'nothing'})") from None
