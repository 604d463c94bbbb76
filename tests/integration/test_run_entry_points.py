"""Who can start a run: `flask pipeline run` (the `flask` command loads `runs.cli:create_app`) and the
scheduler. The web app itself (`app.create_app`, what gunicorn serves) has no pipeline command: it
only queues run requests through the Redis contract."""

from __future__ import annotations

from app import create_app
from runs import cli
from tests.conftest import _test_settings


def test_the_flask_command_app_offers_pipeline_run_and_the_web_app_does_not(stack, clean_state):
    settings = _test_settings(stack.database_url, stack.redis_url)
    assert "pipeline" not in create_app(settings).cli.commands
    command_app = cli.create_app(settings)
    result = command_app.test_cli_runner().invoke(args=["pipeline", "run", "--help"])
    assert result.exit_code == 0, result.output
    assert "--source-dir" in result.output
