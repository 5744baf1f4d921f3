"""ament_python build of the edge_runtime_ros package (colcon build)."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "edge_runtime_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", sorted(str(p) for p in Path("launch").glob("*.launch.py"))),
        (f"share/{PACKAGE}/config", sorted(str(p) for p in Path("config").glob("*.yaml"))),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="edge-runtime maintainers",
    maintainer_email="maintainers@edge-runtime.invalid",
    description="edge-runtime as a managed ROS 2 node",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "runtime_node = edge_runtime_ros.runtime_node:main",
        ],
    },
)
