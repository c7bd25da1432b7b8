"""The contract's enumerations, including the values only its "Type Enumerations" lists."""

from __future__ import annotations

from typing import Literal, get_args

RepositoryType = Literal["git", "svn", "mercurial"]
RepositoryLanguage = Literal["Go", "Python", "C++", "JavaScript", "TypeScript", "Rust", "Java"]
DatasetType = Literal["sensor", "image", "lidar", "training", "validation", "test"]
DatasetFormat = Literal["rosbag", "hdf5", "json", "csv", "parquet", "bag"]
PackageType = Literal["ros", "ros2", "python", "cpp", "docker", "apt"]
ScenarioType = Literal["simulation", "real_world", "hybrid", "unit_test", "integration_test"]
SimulatorType = Literal["gazebo", "unity", "unreal", "webots", "carla", "custom"]

Resource = Literal["repositories", "datasets", "packages", "scenarios", "simulators"]
RESOURCES: tuple[Resource, ...] = get_args(Resource)

REPOSITORY_LANGUAGES: tuple[str, ...] = get_args(RepositoryLanguage)
DATASET_FORMATS: tuple[str, ...] = get_args(DatasetFormat)

TYPES: dict[Resource, tuple[str, ...]] = {
    "repositories": get_args(RepositoryType),
    "datasets": get_args(DatasetType),
    "packages": get_args(PackageType),
    "scenarios": get_args(ScenarioType),
    "simulators": get_args(SimulatorType),
}
