"""The reverse proxy of docker-compose.scale.yml, for real: nginx with that file's own configuration in
front of two app instances spreads requests over both and caches the tile URLs exactly as their
Cache-Control allows (the immutable tiles and the TileJSON's minute; never a redirect marked
no-cache, never the rest of the API).

The configuration is taken from the compose file and interpolated the way compose does (`$$` is a
literal `$`, `${VAR:-default}` its default); only Docker's DNS name `app` becomes an upstream of the
two local instances, and the paths move into the test's folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
import requests
import yaml

from devstack.services import free_port
from tests.conftest import Stack
from tests.integration.app_instances import ROOT, gunicorn, wait_for

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def render_config(app_ports: list[int], listen_port: int, workdir: Path) -> str:
    """The compose file's nginx configuration, interpolated, pointed at the local app instances."""
    content = yaml.safe_load((ROOT / "docker-compose.scale.yml").read_text())["configs"]["nginx-conf"][
        "content"
    ]
    text = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", content).replace("$$", "$")
    replacements = {
        "resolver 127.0.0.11 valid=10s ipv6=off;": "",
        "set $app http://app:5001;": "set $app http://stopsync_app;",
        "listen 8080;": f"listen 127.0.0.1:{listen_port};",
        "/var/cache/nginx/stopsync": str(workdir / "cache"),
    }
    for old, new in replacements.items():
        assert old in text, f"the compose file's nginx configuration no longer has {old!r}"
        text = text.replace(old, new)
    servers = "".join(f"server 127.0.0.1:{port}; " for port in app_ports)
    return (
        f"daemon off; pid {workdir}/nginx.pid; error_log {workdir}/error.log; worker_processes 1;\n"
        "events {}\n"
        f"http {{ access_log off; client_body_temp_path {workdir}/body; proxy_temp_path {workdir}/proxy;\n"
        f"upstream stopsync_app {{ {servers}}}\n{text}\n}}\n"
    )


@contextlib.contextmanager
def nginx(app_ports: list[int], workdir: Path) -> Iterator[int]:
    assert Path(NGINX).exists(), "nginx is needed (./dev test installs nginx-light)"
    port = free_port()
    (workdir / "cache").mkdir(parents=True)  # the compose file's volume: nginx makes only `tiles`
    conf = workdir / "nginx.conf"
    conf.write_text(render_config(app_ports, port, workdir))
    checked = subprocess.run([NGINX, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([NGINX, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _get(port, "/healthz").status_code == 200, 20, "nginx to answer")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def _get(port: int, path: str) -> requests.Response:
    try:
        return requests.get(f"http://127.0.0.1:{port}{path}", allow_redirects=False, timeout=10)
    except requests.ConnectionError:
        response = requests.Response()
        response.status_code = 0
        return response


@pytest.fixture(scope="module")
def proxied(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, list[Path]]]:
    """nginx on a free port in front of two app instances, for this module's tests (none writes to
    the database); yields its port and the instances' access logs. Redis (the app's own tile cache,
    rate-limit counters) is emptied afterwards."""
    logs_dir = tmp_path_factory.mktemp("instances")
    logs = [logs_dir / f"app-{i}.log" for i in range(2)]
    # Outside pytest's owner-only folders: nginx's workers run as an unprivileged user.
    workdir = Path(tempfile.mkdtemp(prefix="stopsync-nginx-"))
    os.chmod(workdir, 0o777)  # noqa: S103 - the workers write the cache and temporary files here
    try:
        with (
            gunicorn(stack, logs[0], access_log=True) as first,
            gunicorn(stack, logs[1], access_log=True) as second,
            nginx([first, second], workdir) as port,
        ):
            yield port, logs
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        redis_lib.Redis.from_url(stack.redis_url).flushdb()


def _answered(logs: list[Path], path: str, expected: int) -> list[int]:
    """How many requests for `path` each instance's access log shows, once they add up to
    `expected` (gunicorn writes the line just after the answer, so the last one may be a moment late)."""

    def counts() -> list[int] | None:
        found = [log.read_text().count(f'"GET {path} ') for log in logs]
        assert sum(found) <= expected, f"{found}: more requests reached the instances than expected"
        return found if sum(found) == expected else None

    return wait_for(counts, 10, f"{expected} requests for {path} in the access logs")


def test_the_proxy_spreads_requests_over_every_instance(proxied):
    port, logs = proxied
    for _ in range(8):
        assert _get(port, "/api/v1/stats").status_code == 200
    counts = _answered(logs, "/api/v1/stats", 8)
    assert all(count >= 2 for count in counts), counts


def test_a_tile_is_answered_from_the_proxy_cache_after_the_first_request(proxied):
    port, logs = proxied
    template = _get(port, "/api/v1/tiles.json").json()["tiles"][0]
    path = "/" + template.split("/", 3)[3].format(z=0, x=0, y=0) if "://" in template else template
    path = path.replace("{z}", "0").replace("{x}", "0").replace("{y}", "0")

    first = _get(port, path)
    assert first.status_code == 200, first.text
    assert "immutable" in first.headers["Cache-Control"]
    assert first.headers["X-Cache-Status"] == "MISS"
    again = [_get(port, path) for _ in range(5)]
    assert {r.headers["X-Cache-Status"] for r in again} == {"HIT"}
    assert {r.content for r in again} == {first.content}
    assert sum(_answered(logs, path, 1)) == 1, "only the first request reached an app instance"
    # A tile is the same for everyone and the app reads no session for it (no `Vary: Cookie`), so a
    # browser with cookies (a signed-in editor, a language choice) gets the copy cached for the others.
    assert "Cookie" not in first.headers.get("Vary", "")
    with_cookie = requests.get(
        f"http://127.0.0.1:{port}{path}", cookies={"session": "someone's", "lang": "de"}, timeout=10
    )
    assert with_cookie.headers["X-Cache-Status"] == "HIT"
    assert sum(_answered(logs, path, 1)) == 1

    tilejson = [_get(port, "/api/v1/tiles.json") for _ in range(2)]
    assert "max-age=" in tilejson[1].headers["Cache-Control"]
    assert tilejson[1].headers["X-Cache-Status"] == "HIT", "the TileJSON's own max-age is honoured too"


def test_what_the_app_marks_uncacheable_always_reaches_an_instance(proxied):
    port, logs = proxied
    stale = "/api/v1/tiles/999-deadbeef/0/0/0.mvt"  # a snapshot that is not published: 302, no-cache
    replies = [_get(port, stale) for _ in range(3)]
    assert {r.status_code for r in replies} == {302}
    assert "no-cache" in replies[0].headers["Cache-Control"]
    assert "HIT" not in {r.headers.get("X-Cache-Status") for r in replies}
    assert sum(_answered(logs, stale, 3)) == 3
    # The rest of the API is not cached at all: no cache status, every request answered by an app.
    for _ in range(3):
        assert "X-Cache-Status" not in _get(port, "/api/v1/problems").headers
    assert sum(_answered(logs, "/api/v1/problems", 3)) == 3
