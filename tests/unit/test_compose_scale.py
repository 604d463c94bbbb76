"""docker-compose.scale.yml: a primary and a streaming replica, N app replicas reading from it, nginx in
front caching the tiles as their Cache-Control says. Checked against the Compose Specification and for
the rules of the production file; no engine needed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCALE = "docker-compose.scale.yml"


def load(name: str = SCALE) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def nginx_conf() -> str:
    return load()["configs"]["nginx-conf"]["content"]


def test_scale_file_matches_the_compose_specification():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / SCALE),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_dollar_in_inline_configs_and_commands_is_escaped_or_a_compose_variable():
    # Compose interpolates `$name` everywhere, inline configs and shell commands included: an nginx
    # `$host` or a shell `$PGDATA` written with one `$` would silently become an empty string.
    compose = load()
    texts = [config["content"] for config in compose["configs"].values()]
    texts += [part for svc in compose["services"].values() for part in svc.get("command", []) or []]
    for text in texts:
        for match in re.finditer(r"\$(?!\$)", text.replace("$$", "")):
            following = text.replace("$$", "")[match.start() : match.start() + 2]
            assert following == "${", f"unescaped $ in {text[:60]!r}...: {following!r}"


def test_only_the_proxy_publishes_a_port_on_loopback_by_default():
    services = load()["services"]
    published = {name: svc["ports"] for name, svc in services.items() if "ports" in svc}
    assert list(published) == ["proxy"]
    assert published["proxy"] == ["${APP_BIND:-127.0.0.1}:5001:8080"]


def test_app_runs_app_replicas_that_read_from_the_replica_and_write_to_the_primary():
    app = load()["services"]["app"]
    assert app["deploy"]["replicas"] == "${APP_REPLICAS:-3}"
    env = app["environment"]
    assert "@db-replica:5432/stopsync" in env["DATABASE_READ_URL"]
    assert "@db:5432/stopsync" in env["DATABASE_URL"]
    assert env["DATABASE_READ_MAX_LAG_S"].startswith("${DATABASE_READ_MAX_LAG_S:-")
    assert app["depends_on"]["migrator"] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("service", ["scheduler", "migrator"])
def test_the_pipeline_and_the_migrator_never_use_the_replica(service):
    assert "DATABASE_READ_URL" not in load()["services"][service]["environment"]


def test_the_shared_settings_are_the_production_files_apart_from_the_trusted_proxy_hop():
    # Same anchors as docker-compose.yml, so a setting added there must be added here too.
    scale = load()["x-app-env"]
    production = load("docker-compose.yml")["x-app-env"]
    assert set(scale) == set(production)
    differing = {key for key in scale if scale[key] != production[key]}
    assert differing == {"TRUST_PROXY_HOPS"}
    assert scale["TRUST_PROXY_HOPS"] == "${TRUST_PROXY_HOPS:-1}", "nginx is one hop"


def test_the_replica_is_a_base_backup_of_the_primary_streaming_from_it():
    services = load()["services"]
    replica = services["db-replica"]
    assert replica["image"] == services["db"]["image"]
    script = replica["command"][0]
    assert "pg_basebackup -h db" in script
    assert "--write-recovery-conf" in script
    assert "--wal-method=stream" in script
    assert "hot_standby=on" in script
    assert replica["depends_on"]["db"] == {"condition": "service_healthy"}
    assert "replica_data:/var/lib/postgresql/data" in replica["volumes"]
    assert "pg_is_in_recovery()" in replica["healthcheck"]["test"][1]


def test_the_primary_creates_the_replication_role_and_allows_it_in_pg_hba_on_first_start():
    compose = load()
    db = compose["services"]["db"]
    assert db["configs"] == [
        {"source": "replication-init", "target": "/docker-entrypoint-initdb.d/20-replication.sh"}
    ]
    init = compose["configs"]["replication-init"]["content"]
    assert "CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'pw'" in init
    assert "host replication replicator all scram-sha-256" in init
    assert db["environment"]["REPLICATION_PASSWORD"] == "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}"


def test_nginx_caches_only_the_tile_urls_and_honours_their_cache_control():
    conf = nginx_conf()
    assert conf.count("proxy_cache tiles;") == 1
    tiles_block = conf.split("location /api/v1/tiles {", 1)[1].split("}", 1)[0]
    assert "proxy_cache tiles;" in tiles_block
    assert "proxy_cache_key $$scheme$$host$$request_uri;" in tiles_block, "filters are part of the key"
    # No proxy_cache_valid and no ignored Cache-Control, Expires or Set-Cookie: the app's
    # Cache-Control alone decides. Only Vary is ignored (tiles do not depend on the caller's cookies).
    assert "proxy_cache_valid" not in conf
    assert re.findall(r"proxy_ignore_headers[^;]*;", conf) == ["proxy_ignore_headers Vary;"]
    assert "proxy_cache_revalidate on;" in tiles_block


def test_nginx_spreads_requests_over_every_app_replica_and_streams_server_sent_events_unbuffered():
    conf = nginx_conf()
    assert "resolver 127.0.0.11 valid=10s" in conf
    assert "set $$app http://app:5001;" in conf
    stream = conf.split("location = /api/v1/pipeline/stream {", 1)[1].split("}", 1)[0]
    assert "proxy_buffering off;" in stream
    assert "X-Forwarded-For $$proxy_add_x_forwarded_for" in conf


LONG_RUNNING = ["db", "db-replica", "redis", "app", "scheduler", "proxy"]


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_have_healthchecks_and_restart(service):
    svc = load()["services"][service]
    assert "test" in svc["healthcheck"]
    assert svc["restart"] == "unless-stopped"


def test_databases_and_redis_sit_on_the_internal_network_only():
    compose = load()
    assert compose["networks"]["backend"]["internal"] is True
    for name in ("db", "db-replica", "redis"):
        assert compose["services"][name]["networks"] == ["backend"], name


def test_the_scale_file_mounts_only_named_volumes_never_source():
    compose = load()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source in compose["volumes"], f"{name} mounts {source!r}, not a named volume"
