"""``edge_runtime``: a managed rclpy node hosting one :class:`~edge_runtime.Runtime`.

The node is a shell: every lifecycle transition, parameter and service maps to one Runtime
call, and every message is built by :mod:`edge_runtime.pipelines.messages` (outputs, images) or
:mod:`edge_runtime.ros2.translate` (diagnostics, names). All pipelines stay in this one process
on one scheduler; ROS only carries frames in and results out.

=========================  =====================================================================
configure                  read ``config``, build or load engines (``Runtime.configure``);
                           declare ``P.enabled`` / ``P.rate_hz``; create topics. A failure
                           logs one line, returns FAILURE and leaves the node unconfigured.
activate / deactivate      ``Runtime.activate`` / ``deactivate`` (outputs flow while active)
cleanup / shutdown         ``Runtime.cleanup`` / ``shutdown``; topics and parameters removed
``P/image_raw``            sensor_msgs/Image (rgb8, bgr8, mono8) -> ``Runtime.push``
``P/image_raw/compressed`` sensor_msgs/CompressedImage (jpeg, png) -> ``Runtime.push``
``P/text``                 std_msgs/String (a text pipeline's transcripts) -> ``Runtime.push``
``P/detections`` ...       outputs (vision_msgs), header = the input's stamp and frame_id;
                           a command pipeline's ``P/command``: std_msgs/String, JSON
``/diagnostics``           1 Hz, one status per pipeline plus the power mode and lanes
``power_mode``             ``Runtime.set_power_mode`` (an unknown or infeasible mode: rejected)
``~/reload``               std_srvs/Trigger: ``Runtime.reload`` of the same config file
=========================  =====================================================================

rclpy is imported at the top of this module (a LifecycleNode subclass needs it), so only
``edge-runtime ros2`` and the ament package's entry point import it, inside their functions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.lifecycle.publisher import LifecyclePublisher
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from rclpy.subscription import Subscription
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header, String
from std_srvs.srv import Trigger

from edge_runtime.config.pipeline import PipelineConfig
from edge_runtime.errors import UserError
from edge_runtime.pipelines.messages import (
    MessageTypes,
    UnsupportedImageError,
    image_from_compressed,
    image_from_message,
    output_messages,
    stamp_to_time,
    time_to_stamp,
)
from edge_runtime.pipelines.output import Output
from edge_runtime.ros2 import translate
from edge_runtime.runtime.health import HealthMonitor
from edge_runtime.runtime.lifecycle import State
from edge_runtime.runtime.outputs import Subscription as OutputSubscription
from edge_runtime.runtime.runtime import Runtime, RuntimeOptions

#: Seconds between /diagnostics messages (diagnostic_updater's default rate).
DIAGNOSTICS_PERIOD_S = 1.0
#: Seconds between repeats of one rejected-input warning.
THROTTLE_S = 5.0
#: Input stamps kept per pipeline to give outputs the input's exact stamp (a float round trip
#: would move nanoseconds); older ones belong to frames dropped long ago.
STAMPS_KEPT = 256
OUTPUT_QOS_DEPTH = 10

RuntimeFactory = Callable[[Path, RuntimeOptions], Runtime]


@dataclass
class _Ports:
    """One pipeline's topics."""

    publisher: LifecyclePublisher[Any] | None = None
    subscriptions: list[Subscription[Any]] = field(default_factory=list)
    stamps: OrderedDict[float, Time] = field(default_factory=OrderedDict)
    rejected: int = 0
    #: What the topics were made for (see :func:`_topics`).
    topics: tuple[str | None, bool] = (None, False)


class RuntimeNode(LifecycleNode):
    """The lifecycle node; see the module docstring for what maps to what."""

    def __init__(self, node_name: str = translate.NODE_NAME, *,
                 runtime_factory: RuntimeFactory | None = None, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._factory = runtime_factory or _wall_clock_runtime
        self._types = MessageTypes.ros()
        self._diagnostic_types = translate.DiagnosticTypes.ros()
        self._control = MutuallyExclusiveCallbackGroup()
        self._frames = ReentrantCallbackGroup()
        self._runtime: Runtime | None = None
        self._health: HealthMonitor | None = None
        self._subscription: OutputSubscription | None = None
        self._ports: dict[str, _Ports] = {}
        self._ports_lock = threading.Lock()
        self._applying = False
        self._active = False
        #: ROS time minus the runtime's clock (seconds since activation), set at activate.
        self._clock_offset = 0.0
        self.declare_parameter("config", "", ParameterDescriptor(
            description="Pipeline set YAML; read-only once configured (cleanup first)"))
        self.declare_parameter("power_mode", "", ParameterDescriptor(
            description="Power mode (15W, 30W, ... or nvpmodel id); empty: the set's default"))
        self.declare_parameter("autostart", False, ParameterDescriptor(
            description="Configure and activate at start (edge-runtime ros2 sets it)"))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_service(Trigger, "~/reload", self._on_reload, callback_group=self._control)
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics,
                          callback_group=self._control)

    # --- lifecycle ---------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        config = str(self.get_parameter("config").value or "")
        if not config:
            self.get_logger().error("configure failed: parameter 'config' is empty; set it to "
                                    "a pipeline set YAML (-p config:=FILE)")
            return TransitionCallbackReturn.FAILURE
        mode = str(self.get_parameter("power_mode").value or "") or None
        runtime = self._factory(Path(config), RuntimeOptions(power_mode=mode))
        try:
            engines = runtime.configure()
        except (UserError, OSError, ValueError, RuntimeError) as exc:
            self.get_logger().error(f"configure failed: {_one_line(exc)}")
            runtime.shutdown()
            return TransitionCallbackReturn.FAILURE
        self._runtime = runtime
        assert runtime.loaded is not None
        self._health = HealthMonitor(runtime.loaded.config.diagnostics)
        for pipeline in runtime.loaded.config.pipelines:
            self._add_pipeline(pipeline)
        self._set_quietly([Parameter("power_mode", value=runtime.status().power_mode)])
        self.get_logger().info(
            f"configured {config}: {len(engines)} engines, pipelines "
            f"{', '.join(p.name for p in runtime.loaded.config.pipelines)}")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        runtime = self._require_runtime()
        try:
            runtime.activate()
        except (UserError, OSError, RuntimeError) as exc:
            self.get_logger().error(f"activate failed: {_one_line(exc)}")
            return TransitionCallbackReturn.FAILURE
        if self._health is not None:
            self._health.reset()
        # The runtime's clock counts from activation; taken once, not per output.
        self._clock_offset = self.get_clock().now().nanoseconds * 1e-9 - runtime.status().now
        self._subscription = runtime.subscribe(self._publish_output)
        self._active = True
        self.get_logger().info(f"active in {runtime.status().power_mode}")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        runtime = self._require_runtime()
        summary = runtime.deactivate()
        if self._subscription is not None:
            runtime.unsubscribe(self._subscription)
            self._subscription = None
        self.get_logger().info(f"deactivated after {summary.duration_s:.1f} s")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release(lambda runtime: runtime.cleanup())
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.close()
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error("error processing: releasing the runtime")
        self.close()
        return TransitionCallbackReturn.SUCCESS

    def close(self) -> None:
        """Stop and release the runtime (idempotent): shutdown, error, process exit."""
        self._active = False
        self._release(lambda runtime: runtime.shutdown())

    def _release(self, how: Callable[[Runtime], None]) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is None:
            return
        if self._subscription is not None:
            runtime.unsubscribe(self._subscription)
            self._subscription = None
        how(runtime)
        for name in list(self._ports):
            self._remove_pipeline(name)
        self._health = None

    # --- pipelines: topics and parameters ----------------------------------------------------

    def _add_pipeline(self, pipeline: PipelineConfig) -> None:
        ports = _Ports(topics=_topics(pipeline))
        topic = translate.output_topic(pipeline)
        if topic is not None:
            ports.publisher = self.create_lifecycle_publisher(
                self._output_class(pipeline), topic, OUTPUT_QOS_DEPTH)
            if self._active:
                ports.publisher.on_activate(self._current_state())
        if translate.takes_images(pipeline):
            name = pipeline.name
            ports.subscriptions = [
                self.create_subscription(
                    Image, f"{name}/{translate.IMAGE_TOPIC}",
                    lambda msg, name=name: self._on_image(name, msg, compressed=False),
                    qos_profile_sensor_data, callback_group=self._frames),
                self.create_subscription(
                    CompressedImage, f"{name}/{translate.COMPRESSED_TOPIC}",
                    lambda msg, name=name: self._on_image(name, msg, compressed=True),
                    qos_profile_sensor_data, callback_group=self._frames),
            ]
        if translate.takes_texts(pipeline):
            name = pipeline.name
            # reliable, kept: every command counts, unlike a camera's newest frame
            ports.subscriptions = [self.create_subscription(
                String, f"{name}/{translate.TEXT_TOPIC}",
                lambda msg, name=name: self._on_text(name, msg), OUTPUT_QOS_DEPTH,
                callback_group=self._frames)]
        with self._ports_lock:
            self._ports[pipeline.name] = ports
        self._declare_pipeline_parameters(pipeline)

    def _output_class(self, pipeline: PipelineConfig) -> type[Any]:
        assert pipeline.postprocess is not None
        classes: dict[str, type[Any]] = {"detection": self._types.Detection2DArray,
                                         "classification": self._types.Classification,
                                         "segmentation": self._types.Image,
                                         "commands": String}
        return classes[pipeline.postprocess.type]

    def _refresh_pipeline(self, pipeline: PipelineConfig) -> None:
        """A reloaded pipeline: same topics, so they stay (subscribers keep their
        connection); its parameters show the new config's values (the edited YAML wins
        over values given at start)."""
        if self._ports[pipeline.name].topics != _topics(pipeline):
            self._remove_pipeline(pipeline.name)
            self._add_pipeline(pipeline)
            return
        self._set_quietly([
            Parameter(translate.enabled_parameter(pipeline.name), value=pipeline.enabled),
            Parameter(translate.rate_parameter(pipeline.name),
                      value=translate.rate_to_parameter(pipeline.rate_hz))])

    def _remove_pipeline(self, name: str) -> None:
        with self._ports_lock:
            ports = self._ports.pop(name)
        if ports.publisher is not None:
            self.destroy_lifecycle_publisher(ports.publisher)
        for subscription in ports.subscriptions:
            self.destroy_subscription(subscription)
        for parameter in (translate.enabled_parameter(name), translate.rate_parameter(name)):
            if self.has_parameter(parameter):
                self.undeclare_parameter(parameter)

    def _declare_pipeline_parameters(self, pipeline: PipelineConfig) -> None:
        """Declared with the config's values; a value given on the command line or in a
        params file overrides it, and is applied to the runtime here."""
        runtime = self._require_runtime()
        name = pipeline.name
        self._applying = True
        try:
            enabled: object = self.declare_parameter(
                translate.enabled_parameter(name), pipeline.enabled,
                ParameterDescriptor(description=f"Run pipeline {name}")).value
            rate: object = self.declare_parameter(
                translate.rate_parameter(name), translate.rate_to_parameter(pipeline.rate_hz),
                ParameterDescriptor(description=f"Processing rate of {name} (0: its own)",
                                    dynamic_typing=True)).value
        finally:
            self._applying = False
        if bool(enabled) != pipeline.enabled:
            runtime.enable(name, bool(enabled))
        if translate.rate_from_parameter(rate) != pipeline.rate_hz:
            runtime.set_rate(name, translate.rate_from_parameter(rate))

    # --- parameters --------------------------------------------------------------------------

    def _on_set_parameters(self, parameters: list[Parameter[Any]]) -> SetParametersResult:
        """Validate, then apply, each change; the first refusal rejects the whole set with its
        reason and applies nothing after it."""
        if self._applying:
            return SetParametersResult(successful=True)
        for parameter in parameters:
            reason = self._apply(parameter.name, parameter.value)
            if reason is not None:
                self.get_logger().warning(f"parameter {parameter.name} rejected: {reason}")
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _apply(self, name: str, value: Any) -> str | None:
        """Apply one parameter change; the reason it is refused, or None."""
        runtime = self._runtime
        if runtime is None:
            return None  # unconfigured: values are read at configure
        if name == "config":
            return ("config is read-only once configured: cleanup first, or edit the file "
                    "and call ~/reload")
        pipeline, _, key = name.rpartition(".")
        try:
            if name == "power_mode":
                runtime.set_power_mode(str(value))
            elif pipeline in runtime.pipelines and key == "enabled":
                if not isinstance(value, bool):
                    return f"{name} must be true or false, got {value!r}"
                runtime.enable(pipeline, value)
            elif pipeline in runtime.pipelines and key == "rate_hz":
                runtime.set_rate(pipeline, translate.rate_from_parameter(value))
        except (UserError, ValueError) as exc:
            return _one_line(exc)
        return None

    def _set_quietly(self, parameters: list[Parameter[Any]]) -> None:
        """Show the runtime's own state in a parameter without applying it back."""
        self._applying = True
        try:
            self.set_parameters(parameters)
        finally:
            self._applying = False

    # --- frames in, outputs out --------------------------------------------------------------

    def _on_image(self, pipeline: str, msg: Any, *, compressed: bool) -> None:
        runtime = self._runtime
        ports = self._ports.get(pipeline)
        if runtime is None or ports is None or runtime.state is not State.ACTIVE:
            return
        try:
            image = image_from_compressed(msg) if compressed else image_from_message(msg)
        except UnsupportedImageError as exc:
            ports.rejected += 1
            self.get_logger().warning(f"{pipeline}: input rejected: {exc}",
                                      throttle_duration_sec=THROTTLE_S)
            return
        stamp = time_to_stamp(msg.header.stamp)
        with self._ports_lock:
            ports.stamps[stamp] = msg.header.stamp
            while len(ports.stamps) > STAMPS_KEPT:
                ports.stamps.popitem(last=False)
        runtime.push(pipeline, image, stamp, msg.header.frame_id)

    def _on_text(self, pipeline: str, msg: Any) -> None:
        """A transcript for a text pipeline, stamped on arrival (String has no header)."""
        runtime = self._runtime
        if runtime is None or runtime.state is not State.ACTIVE:
            return
        stamp = time_to_stamp(self.get_clock().now().to_msg())
        runtime.push(pipeline, str(msg.data), stamp)

    def _publish_output(self, output: Output) -> None:
        """On a runtime subscriber thread: build the message and publish it."""
        ports = self._ports.get(output.pipeline)
        if ports is None or ports.publisher is None:
            return
        for _, msg in output_messages(self._types, output):
            if hasattr(msg, "header"):  # a command's String carries its stamp in the JSON
                msg.header.stamp = self._stamp_of(ports, output)
            ports.publisher.publish(msg)

    def _stamp_of(self, ports: _Ports, output: Output) -> Time:
        """The input's own stamp (pushed frames); else the capture instant on this node's
        clock (a built-in source has no ROS stamp)."""
        if output.stamp is not None:
            with self._ports_lock:
                original = ports.stamps.get(output.stamp)
            if original is not None:
                return original
            return stamp_to_time(self._types, output.stamp)
        return stamp_to_time(self._types, self._clock_offset + output.capture_time)

    # --- services and timers -----------------------------------------------------------------

    def _on_reload(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        del request
        runtime = self._runtime
        if runtime is None or runtime.state not in (State.INACTIVE, State.ACTIVE):
            response.success = False
            response.message = "not configured: nothing to reload (configure first)"
            return response
        config = Path(str(self.get_parameter("config").value))
        try:
            report = runtime.reload(config)
        except (UserError, OSError, ValueError, RuntimeError) as exc:
            response.success = False
            response.message = _one_line(exc)
            self.get_logger().error(f"reload failed: {response.message}")
            return response
        assert runtime.loaded is not None
        configs = {p.name: p for p in runtime.loaded.config.pipelines}
        for name in report.removed:
            self._remove_pipeline(name)
        for name in report.changed:
            self._refresh_pipeline(configs[name])
        for name in report.added:
            self._add_pipeline(configs[name])
        self._health = HealthMonitor(runtime.loaded.config.diagnostics)
        response.success = True
        response.message = translate.reload_message(report)
        self.get_logger().info(response.message)
        return response

    def _publish_diagnostics(self) -> None:
        runtime, health = self._runtime, self._health
        if runtime is None or health is None:
            return
        status = runtime.status()
        rejected = {name: ports.rejected for name, ports in self._ports.items()}
        header = Header(stamp=self.get_clock().now().to_msg())
        self._diagnostics.publish(translate.diagnostic_array(
            self._diagnostic_types, health.report(status, rejected), self.get_name(),
            status.device, header))

    # --- helpers -----------------------------------------------------------------------------

    def _require_runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the node is not configured")
        return self._runtime

    def _current_state(self) -> LifecycleState:
        state_id, label = self._state_machine.current_state
        return LifecycleState(label, state_id)


def _wall_clock_runtime(config: Path, options: RuntimeOptions) -> Runtime:
    return Runtime(config, clock="wall", options=options)


def _topics(pipeline: PipelineConfig) -> tuple[str | None, bool]:
    """A pipeline's topics: its output topic (and so message type), and whether it takes
    images; a reload that keeps them keeps the publishers and subscriptions."""
    return translate.output_topic(pipeline), translate.takes_images(pipeline) \
        or translate.takes_texts(pipeline)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the node until Ctrl-C / SIGTERM; with ``autostart`` it configures and activates
    itself, else it waits for a lifecycle manager."""
    rclpy.init(args=list(argv) if argv is not None else None)
    node = RuntimeNode()
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    code = 0
    try:
        if node.get_parameter("autostart").value:
            code = _autostart(node)
        if code == 0:
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return code


def _autostart(node: RuntimeNode) -> int:
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        return 2
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        return 1
    return 0
