"""The part of the launch / launch_ros API that ros2_nodes/launch/ uses, as recording fakes.

No ROS is installed in the main venv, so the launch files run here against these stand-ins:
each has the constructor signature of the real class or function in launch / launch_ros of
ROS 2 Humble and of Jazzy (the same for everything listed; read from the humble and jazzy
branches of ros2/launch and ros2/launch_ros), down to which arguments are keyword-only and
which are required, and the ``**kwargs`` they pass on to their bases (Action, ExecuteProcess,
ExecuteLocal) spelled out. A misspelt keyword, a missing required argument or a name imported
from the wrong module fails here as it would on a robot.

:data:`API` maps each module to the names it exports that the launch files may import; a name
is added here only after checking it against both distributions.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass(eq=False)
class Entity:
    """A constructed stand-in: what was built, with which arguments."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.args[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.args.get(name, default)


def _entity(kind: str, **args: Any) -> Entity:
    return Entity(kind, args)


# --- launch ---------------------------------------------------------------------------------

def LaunchDescription(initial_entities: Any = None, *, deprecated_reason: Any = None) -> Entity:  # noqa: N802
    return _entity("LaunchDescription", initial_entities=list(initial_entities or []),
                   deprecated_reason=deprecated_reason)


# --- launch.actions (every Action also takes condition=) ------------------------------------

def DeclareLaunchArgument(name: Any, *, default_value: Any = None, description: Any = None,  # noqa: N802
                          choices: Any = None, condition: Any = None) -> Entity:
    return _entity("DeclareLaunchArgument", name=name, default_value=default_value,
                   description=description, choices=choices, condition=condition)


def EmitEvent(*, event: Any, condition: Any = None) -> Entity:  # noqa: N802
    return _entity("EmitEvent", event=event, condition=condition)


def RegisterEventHandler(event_handler: Any, *, condition: Any = None) -> Entity:  # noqa: N802
    return _entity("RegisterEventHandler", event_handler=event_handler, condition=condition)


def GroupAction(actions: Any, *, scoped: bool = True, forwarding: bool = True,  # noqa: N802
                launch_configurations: Any = None, condition: Any = None) -> Entity:
    return _entity("GroupAction", actions=list(actions), scoped=scoped, forwarding=forwarding,
                   launch_configurations=launch_configurations, condition=condition)


def IncludeLaunchDescription(launch_description_source: Any, *,  # noqa: N802
                             launch_arguments: Any = None, condition: Any = None) -> Entity:
    return _entity("IncludeLaunchDescription", launch_description_source=launch_description_source,
                   launch_arguments=list(launch_arguments or []), condition=condition)


# --- launch.events, launch.substitutions, launch.launch_description_sources -----------------

def matches_action(target_action: Any) -> Entity:
    return _entity("matches_action", target_action=target_action)


def LaunchConfiguration(variable_name: Any, *, default: Any = None) -> Entity:  # noqa: N802
    return _entity("LaunchConfiguration", variable_name=variable_name, default=default)


def PathJoinSubstitution(substitutions: Any) -> Entity:  # noqa: N802
    return _entity("PathJoinSubstitution", substitutions=list(substitutions))


def PythonLaunchDescriptionSource(launch_file_path: Any) -> Entity:  # noqa: N802
    return _entity("PythonLaunchDescriptionSource", launch_file_path=launch_file_path)


# --- launch_ros -----------------------------------------------------------------------------

def Node(*, executable: Any, package: Any = None, name: Any = None, namespace: Any = None,  # noqa: N802
         exec_name: Any = None, parameters: Any = None, remappings: Any = None,
         ros_arguments: Any = None, arguments: Any = None,
         # ExecuteProcess
         prefix: Any = None, cwd: Any = None, env: Any = None, additional_env: Any = None,
         # ExecuteLocal
         shell: bool = False, sigterm_timeout: Any = None, sigkill_timeout: Any = None,
         emulate_tty: bool = False, output: Any = "log", output_format: Any = None,
         cached_output: bool = False, log_cmd: bool = False, on_exit: Any = None,
         respawn: Any = False, respawn_delay: Any = None,
         # Action
         condition: Any = None) -> Entity:
    del prefix, cwd, env, additional_env, shell, sigterm_timeout, sigkill_timeout
    del emulate_tty, output_format, cached_output, log_cmd, on_exit, respawn, respawn_delay
    return _entity("Node", executable=executable, package=package, name=name,
                   namespace=namespace, exec_name=exec_name, parameters=list(parameters or []),
                   remappings=list(remappings or []), ros_arguments=ros_arguments,
                   arguments=list(arguments or []), output=output, condition=condition)


def LifecycleNode(*, name: Any, namespace: Any, **node_arguments: Any) -> Entity:  # noqa: N802
    node = Node(name=name, namespace=namespace, **node_arguments)
    node.kind = "LifecycleNode"
    return node


def SetRemap(src: Any, dst: Any, *, condition: Any = None) -> Entity:  # noqa: N802
    return _entity("SetRemap", src=src, dst=dst, condition=condition)


def OnStateTransition(*, entities: Any, target_lifecycle_node: Any = None,  # noqa: N802
                      transition: Any = None, start_state: Any = None, goal_state: Any = None,
                      matcher: Any = None) -> Entity:
    return _entity("OnStateTransition", entities=list(entities),
                   target_lifecycle_node=target_lifecycle_node, transition=transition,
                   start_state=start_state, goal_state=goal_state, matcher=matcher)


def ChangeState(*, lifecycle_node_matcher: Any, transition_id: int) -> Entity:  # noqa: N802
    return _entity("ChangeState", lifecycle_node_matcher=lifecycle_node_matcher,
                   transition_id=transition_id)


def ParameterValue(value: Any, *, value_type: Any = None) -> Entity:  # noqa: N802
    return _entity("ParameterValue", value=value, value_type=value_type)


def FindPackageShare(package: Any) -> Entity:  # noqa: N802
    return _entity("FindPackageShare", package=package)


class Transition:
    """lifecycle_msgs/msg/Transition: the transition ids (lifecycle_msgs 1.2 and later)."""

    TRANSITION_CREATE = 0
    TRANSITION_CONFIGURE = 1
    TRANSITION_CLEANUP = 2
    TRANSITION_ACTIVATE = 3
    TRANSITION_DEACTIVATE = 4


#: The lifecycle states' labels, as OnStateTransition's goal_state compares them.
STATE_LABELS = frozenset({"unconfigured", "inactive", "active", "finalized"})

#: module -> the names the launch files may import from it.
API: dict[str, dict[str, Callable[..., Any] | type]] = {
    "launch": {"LaunchDescription": LaunchDescription},
    "launch.actions": {f.__name__: f for f in (
        DeclareLaunchArgument, EmitEvent, RegisterEventHandler, GroupAction,
        IncludeLaunchDescription)},
    "launch.events": {"matches_action": matches_action},
    "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration,
                             "PathJoinSubstitution": PathJoinSubstitution},
    "launch.launch_description_sources": {
        "PythonLaunchDescriptionSource": PythonLaunchDescriptionSource},
    "launch_ros.actions": {"LifecycleNode": LifecycleNode, "Node": Node, "SetRemap": SetRemap},
    "launch_ros.event_handlers": {"OnStateTransition": OnStateTransition},
    "launch_ros.events.lifecycle": {"ChangeState": ChangeState},
    "launch_ros.parameter_descriptions": {"ParameterValue": ParameterValue},
    "launch_ros.substitutions": {"FindPackageShare": FindPackageShare},
    "lifecycle_msgs.msg": {"Transition": Transition},
}


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the stand-in modules (and their parents) in sys.modules for this test."""
    for module_name, names in API.items():
        parts = module_name.split(".")
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            if not isinstance(sys.modules.get(name), _FakeModule):
                monkeypatch.setitem(sys.modules, name, _FakeModule(name))
        module = sys.modules[module_name]
        for attribute, value in names.items():
            setattr(module, attribute, value)


class _FakeModule(types.ModuleType):
    pass


def walk(value: Any) -> Iterator[Entity]:
    """Every entity in a tree of entities, lists, tuples and dicts, depth first, in order."""
    if isinstance(value, Entity):
        yield value
        for argument in value.args.values():
            yield from walk(argument)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from walk(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk(key)
            yield from walk(item)
