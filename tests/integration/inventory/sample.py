"""The contract's own example bodies, one per resource, and small helpers for the tests."""

from __future__ import annotations

from typing import Any

BASE = "/inventory/api/v1"

SAMPLES: dict[str, dict[str, Any]] = {
    "repositories": {
        "name": "ros-navigation",
        "url": "https://github.com/ros-planning/navigation2",
        "type": "git",
        "description": "ROS 2 Navigation Stack",
        "language": "C++",
        "tags": ["ros2", "navigation", "autonomous"],
    },
    "datasets": {
        "name": "autonomous-driving-v1",
        "description": "Autonomous driving sensor data from urban environments",
        "type": "sensor",
        "size": 10737418240,
        "location": "s3://robohub-data/autonomous-driving-v1",
        "format": "rosbag",
        "tags": ["lidar", "camera", "urban", "autonomous-driving"],
    },
    "packages": {
        "name": "ros-navigation",
        "version": "1.0.0",
        "description": "ROS Navigation Stack",
        "type": "ros2",
        "repository": "https://github.com/ros-planning/navigation2",
        "tags": ["ros2", "navigation", "robotics"],
    },
    "scenarios": {
        "name": "urban-navigation",
        "description": "Navigate through urban environment with obstacles",
        "type": "simulation",
        "config": '{"environment":"urban","weather":"clear","duration":300}',
        "tags": ["navigation", "urban", "simulation"],
    },
    "simulators": {
        "name": "gazebo-classic",
        "description": "Gazebo Classic simulation environment",
        "type": "gazebo",
        "version": "11.12.0",
        "config": '{"physics_engine":"ODE","render_mode":"headless"}',
        "tags": ["gazebo", "ros", "simulation"],
    },
}

# The fewest fields each resource accepts.
MINIMAL: dict[str, dict[str, Any]] = {
    "repositories": {"name": "r", "url": "https://example.org/r.git", "type": "svn"},
    "datasets": {"name": "d", "type": "lidar"},
    "packages": {"name": "p", "version": "0.1.0", "type": "apt"},
    "scenarios": {"name": "s", "type": "hybrid"},
    "simulators": {"name": "m", "type": "webots"},
}

# Values only the contract's "Type Enumerations" section lists, with the field they belong to.
ENUM_ONLY: dict[str, tuple[str, str]] = {
    "repositories": ("language", "TypeScript"),
    "datasets": ("format", "bag"),
}

RESOURCES = tuple(SAMPLES)


async def create(http: Any, headers: dict[str, str], resource: str, **fields: Any) -> Any:
    """Create a record from the resource's minimal body with `fields` on top; returns it."""
    r = await http.post(f"{BASE}/{resource}", json={**MINIMAL[resource], **fields}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def assert_error(r: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the contract's error shape with that status and code."""
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"error", "code"}, body
    assert body["code"] == code and body["error"], body
    return body
