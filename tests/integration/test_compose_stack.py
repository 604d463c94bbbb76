"""With a Docker engine, the compose stack comes up through the migrator and serves /readyz."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def docker_engine_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        return False


pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(
        not docker_engine_available(), reason="no Docker engine on this machine (client only)"
    ),
]


@pytest.fixture(scope="module", autouse=True)
def _compose_variables():
    """The production file insists on these; give the throwaway test stack harmless values."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "STOPSYNC_TAG": "dev",
            "SECRET_KEY": "compose-test-secret",
            "POSTGRES_PASSWORD": "t",
        }.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def docker_compose_file():
    return [str(ROOT / "docker-compose.yml"), str(ROOT / "docker-compose.override.yml")]


@pytest.fixture(scope="module")
def docker_compose_project_name():
    return "stopsync-test"


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return response.status == 200
    except OSError:
        return False


def test_compose_stack_serves_readyz(docker_services, docker_ip):
    url = f"http://{docker_ip}:5001/readyz"
    docker_services.wait_until_responsive(timeout=300, pause=2, check=lambda: _ready(url))
    assert _ready(url)
