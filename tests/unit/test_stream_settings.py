"""The live-stream limits and the gunicorn command that serves streams without a thread each."""

from pathlib import Path

import pytest

from app.config import ConfigError, load_settings
from app.coordination import stream_slot_lease_s
from devstack.services import gunicorn_command

SECRET = {"SECRET_KEY": "s" * 40}


def test_stream_limits_default_to_four_per_client_and_a_hundred_in_total():
    settings = load_settings(SECRET)
    assert (settings.STREAM_MAX_PER_CLIENT, settings.STREAM_MAX_TOTAL) == (4, 100)


@pytest.mark.parametrize(
    ("per_client", "total"),
    [("0", "100"), ("5", "4")],
    ids=["no stream per client", "total below per client"],
)
def test_stream_limits_that_cannot_work_are_refused_at_start(per_client, total):
    with pytest.raises(ConfigError, match="STREAM_MAX_PER_CLIENT"):
        load_settings({**SECRET, "STREAM_MAX_PER_CLIENT": per_client, "STREAM_MAX_TOTAL": total})


def test_a_slot_lease_outlasts_two_keepalives_so_a_healthy_stream_always_renews_in_time():
    for keepalive_s in (1, 15, 60):
        # A stream writes (and renews) at least every keepalive plus one blocking read (2 s).
        assert stream_slot_lease_s(keepalive_s) > keepalive_s + 2


def test_gunicorn_serves_with_gevent_workers_and_never_preloads_the_app():
    argv = gunicorn_command(5001)
    assert argv[argv.index("--worker-class") + 1] == "gevent"
    assert "--threads" not in argv
    # --preload would import psycopg in the master, before the workers' monkey-patching.
    assert "--preload" not in argv


def test_the_container_entrypoint_serves_like_gunicorn_command():
    entrypoint = (Path(__file__).resolve().parents[2] / "entrypoint.sh").read_text()
    app_role = entrypoint.split("exec gunicorn", 1)[1].split(";;", 1)[0]
    assert "--worker-class gevent" in app_role
    assert "--threads" not in app_role
    assert "--preload" not in app_role
