"""ros2_nodes/, the ament_python package edge_runtime_ros, checked without ROS: package.xml
against the REP 149 format-3 schema, setup.py's install layout and entry point, the params
file against the node's parameters, and both launch files run against the launch / launch_ros
API (tests/ros2_nodes/launch_api.py) and cross-checked with the node, setup.py and package.xml.
(tests/ros2/test_package.py adds catkin_pkg's checks in the ROS 2 venv.)"""

from __future__ import annotations

import ast
import configparser
import importlib
import importlib.util
import re
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema
import yaml

from edge_runtime.ros2 import translate
from tests.ros2_nodes import launch_api
from tests.ros2_nodes.launch_api import Entity, walk

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "ros2_nodes"
LAUNCH = PACKAGE / "launch"
SCHEMA = REPO / "tests" / "fixtures" / "ros2" / "package_format3.xsd"
NODE_SOURCE = REPO / "edge_runtime" / "ros2" / "node.py"

#: What the node and the launch files need at run time (the brief of the package).
ROS_EXEC_DEPENDS = {"rclpy", "sensor_msgs", "vision_msgs", "diagnostic_msgs", "std_srvs",
                    "lifecycle_msgs", "launch", "launch_ros", "builtin_interfaces", "std_msgs"}


# --- package.xml ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA))


def manifest() -> ET.Element:
    return ET.parse(PACKAGE / "package.xml").getroot()


def test_package_xml_is_valid_against_the_format_3_schema(schema: xmlschema.XMLSchema) -> None:
    schema.validate(str(PACKAGE / "package.xml"))  # raises XMLSchemaValidationError, with why
    text = (PACKAGE / "package.xml").read_text()
    assert 'href="http://download.ros.org/schema/package_format3.xsd"' in text
    assert manifest().get("format") == "3"


@pytest.mark.parametrize(("change", "why"), [
    (('<maintainer email="maintainers@edge-runtime.invalid">',
      "<maintainer>"), "maintainer without email"),
    (("<name>edge_runtime_ros</name>", "<name>Edge-Runtime</name>"), "package name pattern"),
    (("<version>0.1.0</version>", "<version>0.1</version>"), "version is not X.Y.Z"),
    (("<license>Apache-2.0</license>\n", ""), "no license"),
    (('<package format="3">', '<package format="2">'), "format is fixed to 3"),
    (("</export>", "</export>\n  <exec_depend>late</exec_depend>"), "element order"),
])
def test_the_schema_rejects_a_broken_manifest(schema: xmlschema.XMLSchema,
                                              change: tuple[str, str], why: str) -> None:
    """The schema check has teeth: each of these edits of the real manifest fails it."""
    text = (PACKAGE / "package.xml").read_text()
    assert change[0] in text, why
    assert not schema.is_valid(text.replace(change[0], change[1], 1)), why


def test_package_xml_depends_on_what_the_node_and_launch_files_use() -> None:
    root = manifest()
    depends: dict[str, set[str]] = {}
    for element in root:
        if element.tag.endswith("depend"):
            depends.setdefault(element.tag, set()).add((element.text or "").strip())
    assert depends["buildtool_depend"] == {"ament_python"}
    assert depends["exec_depend"] >= ROS_EXEC_DEPENDS, ROS_EXEC_DEPENDS - depends["exec_depend"]
    # launch_ros (like every run-time dependency of a Python package) is exec only.
    assert not {"build_depend", "depend", "build_export_depend"} & depends.keys()
    assert "python3-pytest" in depends.get("test_depend", set())
    # edge_runtime is a pip package: no rosdep key for it (see the comment in package.xml).
    assert not any("edge" in d for names in depends.values() for d in names)
    # Every ROS package that a launch file imports is an exec_depend.
    for path in LAUNCH.glob("*.launch.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                top = node.module.split(".")[0]
                if top not in {"__future__", "importlib"}:
                    assert top in depends["exec_depend"], f"{path.name}: {top}"
    (export,) = root.iter("export")
    assert [(e.tag, e.text) for e in export] == [("build_type", "ament_python")]
    project = configparser.ConfigParser(interpolation=None)
    project.read(REPO / "setup.cfg")
    assert root.findtext("license") == project["metadata"]["license"] == "Apache-2.0"


# --- setup.py, setup.cfg, the entry point ----------------------------------------------------

@pytest.fixture(scope="module")
def setup_kwargs() -> dict[str, Any]:
    """setup.py run as colcon runs it (from ros2_nodes/), with setup() recording its arguments."""
    recorded: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(PACKAGE)
        setuptools = importlib.import_module("setuptools")  # (ships no type information)
        patch.setattr(setuptools, "setup", lambda **kwargs: recorded.update(kwargs))
        spec = importlib.util.spec_from_file_location("edge_runtime_ros_setup",
                                                      PACKAGE / "setup.py")
        assert spec is not None and spec.loader is not None
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert recorded, "setup.py did not call setup()"
    return recorded


def console_scripts(kwargs: dict[str, Any]) -> dict[str, str]:
    scripts: dict[str, str] = {}
    for entry in kwargs["entry_points"]["console_scripts"]:
        match = re.fullmatch(r"\s*(\S+)\s*=\s*(\S+)\s*", entry)
        assert match is not None, entry
        scripts[match[1]] = match[2]
    return scripts


def test_setup_py_matches_package_xml_and_installs_the_share_files(
        setup_kwargs: dict[str, Any]) -> None:
    root = manifest()
    name = root.findtext("name")
    assert setup_kwargs["name"] == name == "edge_runtime_ros"
    assert setup_kwargs["version"] == root.findtext("version")
    assert setup_kwargs["license"] == root.findtext("license")
    assert "edge_runtime_ros" in setup_kwargs["packages"]
    assert "test" not in setup_kwargs["packages"]
    installed = {(Path(destination) / Path(source).name).as_posix(): PACKAGE / source
                 for destination, sources in setup_kwargs["data_files"] for source in sources}
    for source in installed.values():
        assert source.is_file(), source
    share = f"share/{name}"
    expected = {f"share/ament_index/resource_index/packages/{name}", f"{share}/package.xml"}
    expected |= {f"{share}/launch/{p.name}" for p in LAUNCH.glob("*.launch.py")}
    expected |= {f"{share}/config/{p.name}" for p in (PACKAGE / "config").glob("*.yaml")}
    assert len(expected) >= 5  # marker, package.xml, two launch files, params.yaml
    assert set(installed) == expected
    assert (PACKAGE / "resource" / name).read_text() == ""  # the ament index marker is empty


def test_setup_cfg_puts_the_executables_where_ros2_run_looks() -> None:
    config = configparser.ConfigParser(interpolation=None)
    config.read(PACKAGE / "setup.cfg")
    assert config["develop"]["script_dir"] == "$base/lib/edge_runtime_ros"
    assert config["install"]["install_scripts"] == "$base/lib/edge_runtime_ros"


def test_the_entry_point_imports_and_runs_the_node_with_the_whole_argv(
        setup_kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    assert console_scripts(setup_kwargs) == {
        "runtime_node": "edge_runtime_ros.runtime_node:main"}
    monkeypatch.syspath_prepend(str(PACKAGE))
    monkeypatch.delitem(sys.modules, "edge_runtime_ros.runtime_node", raising=False)
    module = importlib.import_module("edge_runtime_ros.runtime_node")
    calls: list[list[str]] = []

    def node_main(argv: list[str] | None = None) -> int:
        calls.append(list(argv or []))
        return 3

    fake = types.ModuleType("edge_runtime.ros2.node")
    fake.main = node_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "edge_runtime.ros2.node", fake)
    argv = ["/ws/install/lib/edge_runtime_ros/runtime_node", "--ros-args", "-p", "config:=x"]
    monkeypatch.setattr(sys, "argv", argv)
    assert module.main() == 3
    assert calls == [argv]  # program name first: rclpy.init parses from argv[1]


def test_without_edge_runtime_the_entry_point_names_the_pip_package(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(PACKAGE))
    module = importlib.import_module("edge_runtime_ros.runtime_node")
    monkeypatch.setitem(sys.modules, "edge_runtime.ros2.node", None)  # import -> not found
    assert module.main() == 1
    assert "pip install edge-runtime" in capsys.readouterr().err
    # Any other missing module (rclpy, say) is a real error, not an install hint.
    monkeypatch.delitem(sys.modules, "edge_runtime.ros2.node")
    broken = types.ModuleType("edge_runtime.ros2.node")
    monkeypatch.setitem(sys.modules, "edge_runtime.ros2.node", broken)
    with pytest.raises(ImportError):
        module.main()


# --- the node's parameters, from its source --------------------------------------------------

def declared_parameters() -> dict[str, type]:
    """name -> type of the default, for every parameter node.py declares by a literal name."""
    declared: dict[str, type] = {}
    for node in ast.walk(ast.parse(NODE_SOURCE.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "declare_parameter"
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            declared[node.args[0].value] = type(ast.literal_eval(node.args[1]))
    assert {"config", "power_mode", "autostart"} <= declared.keys()
    return declared


def test_params_yaml_sets_parameters_the_node_declares_with_their_types() -> None:
    document = yaml.safe_load((PACKAGE / "config" / "params.yaml").read_text())
    (key,) = document
    assert key in {"/**", translate.NODE_NAME, f"/{translate.NODE_NAME}"}
    parameters = document[key]["ros__parameters"]
    declared = declared_parameters()
    assert parameters.keys() <= declared.keys()
    for name, value in parameters.items():
        assert type(value) is declared[name], name


# --- the launch files -------------------------------------------------------------------------

def test_launch_files_import_only_names_of_the_real_api() -> None:
    for path in LAUNCH.glob("*.launch.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                pytest.fail(f"{path.name}:{node.lineno}: plain import; use from-imports")
            if isinstance(node, ast.ImportFrom) and node.module not in {"__future__",
                                                                        "importlib.resources"}:
                exported = launch_api.API.get(node.module or "")
                assert exported is not None, f"{path.name}: module {node.module}"
                for alias in node.names:
                    assert alias.name in exported, f"{path.name}: {node.module}.{alias.name}"
                    assert alias.asname is None


def run_launch_file(name: str, monkeypatch: pytest.MonkeyPatch) -> Entity:
    launch_api.install(monkeypatch)
    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), LAUNCH / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description: Entity = module.generate_launch_description()
    assert description.kind == "LaunchDescription"
    return description


def of_kind(tree: Any, kind: str) -> list[Entity]:
    """Each entity of that kind once (a node is also reached through what targets it)."""
    found = {id(e): e for e in walk(tree) if e.kind == kind}
    return list(found.values())


def arguments(description: Entity) -> dict[str, Entity]:
    declared = {e["name"]: e for e in description["initial_entities"]
                if e.kind == "DeclareLaunchArgument"}
    used = {e["variable_name"] for e in of_kind(description, "LaunchConfiguration")}
    assert used == declared.keys(), f"undeclared {used - declared.keys()}, " \
                                    f"unused {declared.keys() - used}"
    return declared


def configuration(value: Any) -> str:
    assert isinstance(value, Entity) and value.kind == "LaunchConfiguration", value
    name: str = value["variable_name"]
    return name


def test_the_main_launch_file_starts_the_packaged_node_and_takes_it_to_active(
        monkeypatch: pytest.MonkeyPatch, setup_kwargs: dict[str, Any]) -> None:
    description = run_launch_file("edge_runtime.launch.py", monkeypatch)
    declared = arguments(description)
    assert declared.keys() == {"config", "power_mode", "namespace", "log_level"}
    assert Path(declared["config"]["default_value"]).is_file()  # the shipped demo set
    assert declared["power_mode"]["default_value"] == ""
    assert declared["namespace"]["default_value"] == ""
    assert declared["log_level"]["default_value"] == "info"

    (node,) = of_kind(description, "LifecycleNode")
    assert node["package"] == manifest().findtext("name")
    assert node["executable"] in console_scripts(setup_kwargs)
    assert node["name"] == translate.NODE_NAME
    assert configuration(node["namespace"]) == "namespace"
    assert node["arguments"][:2] == ["--ros-args", "--log-level"]
    assert configuration(node["arguments"][2]) == "log_level"
    (parameters,) = node["parameters"]
    declared_by_node = declared_parameters()
    assert parameters.keys() <= declared_by_node.keys()
    assert parameters["autostart"] is False  # launch drives the transitions
    for name, argument in (("config", "config"), ("power_mode", "power_mode")):
        value = parameters[name]
        # A string parameter given from a launch argument is typed str: otherwise launch
        # reads power_mode:=2 as YAML, an integer, which the node's string parameter refuses.
        assert declared_by_node[name] is str
        assert value.kind == "ParameterValue" and value["value_type"] is str, name
        assert configuration(value["value"]) == argument

    # configure on start; activate once inactive; both aimed at this node.
    entities = description["initial_entities"]
    (handler,) = [e for e in entities if e.kind == "RegisterEventHandler"]
    (configure,) = [e for e in entities if e.kind == "EmitEvent"]
    assert entities.index(handler) < entities.index(node) < entities.index(configure)
    transition = handler["event_handler"]
    assert transition.kind == "OnStateTransition"
    assert transition["target_lifecycle_node"] is node
    assert transition["goal_state"] in launch_api.STATE_LABELS
    assert transition["goal_state"] == "inactive"
    (activate,) = transition["entities"]
    changes = {"configure": configure["event"], "activate": activate["event"]}
    for change in changes.values():
        assert change.kind == "ChangeState"
        matcher = change["lifecycle_node_matcher"]
        assert matcher.kind == "matches_action" and matcher["target_action"] is node
    assert changes["configure"]["transition_id"] == launch_api.Transition.TRANSITION_CONFIGURE
    assert changes["activate"]["transition_id"] == launch_api.Transition.TRANSITION_ACTIVATE


def test_the_camera_example_remaps_the_camera_into_a_ros2_fed_pipeline(
        monkeypatch: pytest.MonkeyPatch, setup_kwargs: dict[str, Any]) -> None:
    main_arguments = arguments(run_launch_file("edge_runtime.launch.py", monkeypatch))
    description = run_launch_file("robot_camera.launch.py", monkeypatch)
    declared = arguments(description)
    assert declared["config"]["default_value"] is None  # required: the user's set

    (camera,) = of_kind(description, "Node")
    (group,) = of_kind(description, "GroupAction")
    assert group["scoped"] is True  # the remap reaches only what the group includes
    remap, include = group["actions"]
    assert (remap.kind, include.kind) == ("SetRemap", "IncludeLaunchDescription")

    # The included file is this package's edge_runtime.launch.py, installed by setup.py.
    source = include["launch_description_source"]
    assert source.kind == "PythonLaunchDescriptionSource"
    path = source["launch_file_path"]
    assert path.kind == "PathJoinSubstitution"
    share, *parts = path["substitutions"]
    assert share.kind == "FindPackageShare" and share["package"] == setup_kwargs["name"]
    assert parts == ["launch", "edge_runtime.launch.py"]
    installed = {f"{d}/{Path(s).name}" for d, sources in setup_kwargs["data_files"]
                 for s in sources}
    assert f"share/{setup_kwargs['name']}/launch/edge_runtime.launch.py" in installed
    passed = dict(include["launch_arguments"])
    assert passed.keys() <= main_arguments.keys()
    assert configuration(passed["namespace"]) == configuration(camera["namespace"])

    # front_detector/image_raw (relative, like the camera's topic, so both follow the
    # namespace) is a pipeline input of the shipped ROS 2 set, and the camera publishes dst.
    pipeline, topic = remap["src"].split("/", 1)
    assert topic == translate.IMAGE_TOPIC
    demo = yaml.safe_load((REPO / "pipelines" / "ros2_demo.yaml").read_text())
    sources = {p["name"]: p["source"]["type"] for p in demo["pipelines"]}
    assert sources[pipeline] == "ros2"
    assert not remap["dst"].startswith("/")
    assert dict(camera["remappings"]) == {"image_raw": remap["dst"]}
    assert (camera["package"], camera["executable"]) == ("v4l2_camera", "v4l2_camera_node")
    (camera_parameters,) = camera["parameters"]
    assert configuration(camera_parameters["video_device"]) == "video_device"
