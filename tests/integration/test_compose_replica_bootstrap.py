"""docker-compose.scale.yml's replication set-up, run for real on a local PostgreSQL 15.

The official postgres image allows connections from other containers with `host all all all`,
which does not cover replication connections; its init scripts run once, on an empty volume. Here
a fresh cluster gets exactly that pg_hba, a base backup as `replicator` is refused, the compose
file's own init script (interpolated as compose does) is run, and then the same `pg_basebackup`
the replica service runs succeeds and the copy streams as a hot standby.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from devstack.services import PG_BIN, LocalPostgres, _as_service_user, _chown_for_service, free_port
from tests.integration.app_instances import ROOT, wait_for

REPLICATION_PASSWORD = "replication secret with 'quotes' and $dollars"


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.scale.yml").read_text())


def _interpolated(text: str) -> str:
    """What compose hands the container: `$$` is a literal `$` (the tests' compose files use no other)."""
    assert not re.search(r"\$\{", text.replace("$$", "")), "a compose variable where none is expected"
    return text.replace("$$", "$")


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="stopsync-compose-replica-"))
    os.chmod(path, 0o755)  # noqa: S103 - the postgres system user must reach its data folder
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def primary(workdir: Path) -> Iterator[LocalPostgres]:
    """A fresh cluster whose pg_hba is the postgres image's: no replication line for other hosts."""
    server = LocalPostgres(workdir / "primary", free_port(), fast_unsafe=True)
    server.init()
    hba = server.data_dir / "pg_hba.conf"
    lines = [line for line in hba.read_text().splitlines() if "replication" not in line.split("#")[0]]
    hba.write_text("\n".join(lines) + "\nhost all all all scram-sha-256\n")
    server.start()
    yield server
    server.stop(mode="immediate")


def _basebackup(primary: LocalPostgres, target: Path) -> subprocess.CompletedProcess:
    """The replica service's pg_basebackup, its flags read from the compose file, against `primary`."""
    script = _interpolated(_compose()["services"]["db-replica"]["command"][0])
    line = re.search(r"pg_basebackup (.*?--checkpoint=fast)", script.replace("\\\n", " "), re.DOTALL)
    assert line, "the replica service no longer runs pg_basebackup"
    args = shlex.split(line.group(1).replace('"$PGDATA"', str(target)))
    args[args.index("-h") + 1] = "127.0.0.1"
    args[args.index("-p") + 1] = str(primary.port)
    env = {**os.environ, "PGPASSWORD": REPLICATION_PASSWORD}
    argv = _as_service_user([str(PG_BIN / "pg_basebackup"), *args, "--no-sync"])
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


def test_the_init_script_lets_the_replica_service_copy_and_stream_from_the_primary(primary, workdir):
    target = workdir / "replica" / "data"
    target.parent.mkdir()
    _chown_for_service(target.parent)
    refused = _basebackup(primary, target)
    assert refused.returncode != 0
    assert "no pg_hba.conf entry for replication connection" in refused.stderr
    shutil.rmtree(target, ignore_errors=True)

    init = workdir / "20-replication.sh"
    init.write_text(_interpolated(_compose()["configs"]["replication-init"]["content"]))
    env = {
        **os.environ,
        "PATH": f"{PG_BIN}:{os.environ['PATH']}",
        "POSTGRES_USER": "stopsync",
        "POSTGRES_DB": "postgres",
        "PGDATA": str(primary.data_dir),
        "REPLICATION_PASSWORD": REPLICATION_PASSWORD,
        # The image's entrypoint runs init scripts on its local socket; here the loopback port.
        "PGHOST": "127.0.0.1",
        "PGPORT": str(primary.port),
        "PGPASSWORD": "stopsync",
    }
    result = subprocess.run(["bash", str(init)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    primary.restart()  # the image restarts the server after its init scripts

    copied = _basebackup(primary, target)
    assert copied.returncode == 0, copied.stderr
    replica = LocalPostgres(workdir / "replica", free_port(), fast_unsafe=True)
    replica.socket_dir.mkdir()
    _chown_for_service(replica.socket_dir)
    replica.start()
    try:
        conninfo = "host=127.0.0.1 user=stopsync password=stopsync dbname=postgres port="
        with psycopg.connect(conninfo + str(primary.port), autocommit=True) as conn:
            conn.execute("CREATE TABLE streamed (n int)")
            conn.execute("SET synchronous_commit = on")
            conn.execute("INSERT INTO streamed VALUES (42)")
        with psycopg.connect(conninfo + str(replica.port), autocommit=True) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True

            def streamed() -> bool:
                exists = conn.execute("SELECT to_regclass('streamed') IS NOT NULL").fetchone()[0]
                return exists and conn.execute("SELECT n FROM streamed").fetchall() == [(42,)]

            wait_for(streamed, 30, "the row to stream to the replica")
    finally:
        replica.stop(mode="immediate")
