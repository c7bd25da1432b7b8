"""Rigging test fixtures: synthetic rigs, the Khronos samples and the Khronos glTF validator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from domain.rigging.model import Limits, Model
from domain.rigging.synthetic import synthetic_set

FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "rigging"
VALIDATOR_CACHE = (
    Path(os.environ.get("SWITCHYARD_TEST_CACHE", Path.home() / ".cache" / "switchyard-tests"))
    / "gltf-validator"
)
VALIDATOR_VERSION = "2.0.0-dev.3.10"
_OFFLINE = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ENETUNREACH", "ECONNRESET")
_RUNNER = """
const v = require(process.argv[2]);
const data = new Uint8Array(require('fs').readFileSync(process.argv[3]));
v.validateBytes(data).then(r => console.log(JSON.stringify(r)))
  .catch(e => { console.error(String(e)); process.exit(2); });
"""


@pytest.fixture(scope="session")
def limits() -> Limits:
    """The lead's production limits."""
    return Limits()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The shared Khronos sample rigs."""
    return FIXTURES.resolve()


@pytest.fixture(scope="session")
def synthetic() -> dict[str, Model]:
    """The synthetic rigs, built once per session."""
    return synthetic_set(3)


@pytest.fixture(scope="session")
def validate_gltf() -> Callable[[Path], dict[str, Any]]:
    """Run the Khronos glTF validator (npm gltf-validator, installed once into a cache)."""
    module = VALIDATOR_CACHE / "node_modules" / "gltf-validator"
    if shutil.which("node") is None:
        pytest.skip("node is not installed, so the Khronos glTF validator cannot run")
    if not module.is_dir():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed, so the Khronos glTF validator cannot be fetched")
        VALIDATOR_CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(VALIDATOR_CACHE),
                f"gltf-validator@{VALIDATOR_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode != 0 or not module.is_dir():
            if any(code in done.stderr for code in _OFFLINE):
                pytest.skip(
                    f"npm registry unreachable, glTF validator not run: {done.stderr[-200:]}"
                )
            pytest.fail(f"npm could not install gltf-validator: {done.stderr[-500:]}")
    runner = VALIDATOR_CACHE / "run.js"
    runner.write_text(_RUNNER)

    def run(path: Path) -> dict[str, Any]:
        out = subprocess.run(
            ["node", str(runner), str(module), str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        report: dict[str, Any] = json.loads(out.stdout)
        return report

    return run
