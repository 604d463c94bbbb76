"""Both compose files follow the Compose Specification and keep the migration gate. No engine needed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = ["docker-compose.yml", "docker-compose.override.yml"]


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_file_matches_the_compose_specification(name):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / name),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", ["app", "scheduler"])
def test_app_and_scheduler_start_only_after_the_migrator_completed(service):
    depends = load("docker-compose.yml")["services"][service]["depends_on"]
    assert depends["migrator"] == {"condition": "service_completed_successfully"}
    assert depends["db"] == {"condition": "service_healthy"}
    assert depends["redis"] == {"condition": "service_healthy"}


def test_migrator_waits_for_a_healthy_database():
    assert load("docker-compose.yml")["services"]["migrator"]["depends_on"]["db"] == {
        "condition": "service_healthy"
    }


LONG_RUNNING = ["db", "redis", "app", "scheduler", "backup"]


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_have_healthchecks(service):
    assert "test" in load("docker-compose.yml")["services"][service]["healthcheck"]


def test_only_the_app_publishes_a_port_and_it_is_5001():
    services = load("docker-compose.yml")["services"]
    published = {name: svc["ports"] for name, svc in services.items() if "ports" in svc}
    assert list(published) == ["app"]
    assert published["app"][0].endswith(":5001:5001")


def test_production_uses_published_images_pinned_by_a_tag_variable():
    services = load("docker-compose.yml")["services"]
    for name in ("migrator", "app", "scheduler"):
        assert services[name]["image"].startswith("ghcr.io/"), name
        assert "${STOPSYNC_TAG" in services[name]["image"], name
        assert "build" not in services[name]
        assert "volumes" not in services[name] or all(
            not str(volume).startswith(".") for volume in services[name]["volumes"]
        )


def test_database_and_redis_are_on_an_internal_network():
    compose = load("docker-compose.yml")
    assert compose["networks"]["backend"]["internal"] is True
    assert compose["services"]["db"]["networks"] == ["backend"]
    assert compose["services"]["redis"]["networks"] == ["backend"]


def test_test_service_sits_behind_a_profile():
    assert load("docker-compose.yml")["services"]["test"]["profiles"] == ["test"]


def test_override_builds_from_source_and_bind_mounts_it_for_live_reload():
    services = load("docker-compose.override.yml")["services"]
    for name in ("migrator", "app", "scheduler"):
        assert services[name]["build"]["target"] == "dev"
        assert ".:/srv/stopsync" in services[name]["volumes"]
    assert services["app"]["environment"]["FLASK_DEBUG"] == "1"
    assert services["test"]["build"]["target"] == "test"


def test_dockerfile_has_the_four_stages_a_non_root_user_and_a_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for stage in ("AS base", "AS dev", "AS test", "AS prod"):
        assert stage in dockerfile
    assert "USER stopsync" in dockerfile
    assert "HEALTHCHECK" in dockerfile
    assert 'ENTRYPOINT ["/srv/stopsync/entrypoint.sh"]' in dockerfile


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_restart_unless_stopped(service):
    assert load("docker-compose.yml")["services"][service]["restart"] == "unless-stopped"


def test_migrator_runs_once_and_is_never_restarted():
    assert load("docker-compose.yml")["services"]["migrator"]["restart"] == "no"


def test_production_mounts_only_named_volumes_never_source():
    compose = load("docker-compose.yml")
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
            assert source in compose["volumes"], f"{name} mounts {source!r}, not a named volume"


def test_backup_sidecar_is_an_optional_profile_running_the_production_image():
    services = load("docker-compose.yml")["services"]
    backup = services["backup"]
    assert backup["profiles"] == ["backup"]
    assert backup["image"] == services["app"]["image"]
    assert backup["command"][:3] == ["flask", "backup", "schedule"]
    assert "backups:/srv/stopsync/backups" in backup["volumes"]
    assert "ports" not in backup
    assert backup["networks"] == ["backend"]
    assert backup["depends_on"]["migrator"] == {"condition": "service_completed_successfully"}
    assert backup["healthcheck"]["test"][:3] == ["CMD", "flask", "backup"]


def test_migrator_backups_land_in_the_same_volume_as_the_sidecars():
    services = load("docker-compose.yml")["services"]
    assert "backups:/srv/stopsync/backups" in services["migrator"]["volumes"]
    assert "MIGRATOR_BACKUP" in services["migrator"]["environment"]


def _interpolation_default(expression: str, variable: str) -> str:
    """The default of `${VARIABLE:-default}` inside `expression` (what compose uses when unset)."""
    match = re.search(r"\$\{" + variable + r":-([^}]*)\}", expression)
    assert match, f"{expression!r} has no ${{{variable}:-...}}"
    return match.group(1)


def test_production_publishes_the_app_on_loopback_unless_app_bind_says_otherwise():
    (port,) = load("docker-compose.yml")["services"]["app"]["ports"]
    host_part = port.removesuffix(":5001:5001")
    assert host_part == "${APP_BIND:-127.0.0.1}"
    assert _interpolation_default(host_part, "APP_BIND") == "127.0.0.1"
    assert re.search(r"^APP_BIND=127\.0\.0\.1\s", (ROOT / ".env.example").read_text(), re.MULTILINE)


def test_the_dev_override_publishes_no_port_of_its_own():
    # Compose adds an override's ports to the base file's: any entry here would be a second,
    # unguarded way to reach the debug server.
    for name, service in load("docker-compose.override.yml")["services"].items():
        assert "ports" not in service, name


def test_the_dev_override_tells_the_app_the_address_its_port_is_published_on():
    published = load("docker-compose.yml")["services"]["app"]["ports"][0].removesuffix(":5001:5001")
    app_env = load("docker-compose.override.yml")["services"]["app"]["environment"]
    # Same expression as the port line: the entrypoint sees exactly where compose publishes.
    assert app_env["APP_BIND"] == published
    assert app_env["FLASK_DEBUG"] == "1"
    assert app_env["STOPSYNC_ENV"] == "development"


def test_every_production_process_gets_the_public_base_url():
    compose = load("docker-compose.yml")
    for name in ("app", "scheduler", "migrator", "backup"):
        env = compose["services"][name]["environment"]
        assert env["PUBLIC_BASE_URL"].startswith("${PUBLIC_BASE_URL:-"), name


def test_the_image_creates_the_backups_folder_owner_only():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "chmod 0700 backups" in dockerfile
