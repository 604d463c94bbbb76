"""The GitHub workflows and the Dependabot file are valid, pinned, least-privilege and zizmor-clean.

Everything here runs offline: check-jsonschema uses its bundled (vendored) schemas and zizmor runs with
`--offline`, so the suite needs no network and no GitHub token.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
FULL_SHA_WITH_VERSION = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    return workflow.get("on", workflow.get(True)) or {}


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def uses_lines(path: Path) -> list[str]:
    return [
        line.split("uses:", 1)[1].strip()
        for line in path.read_text().splitlines()
        if re.match(r"^\s*(- )?uses:", line)
    ]


def dockerfile_stages() -> list[str]:
    return re.findall(r"^FROM \S+ AS (\w+)$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)


def test_there_are_a_ci_and_a_publish_workflow():
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "publish.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_matches_the_github_workflow_schema(path):
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_file_matches_the_dependabot_schema():
    result = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.dependabot",
            str(GITHUB / "dependabot.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_reports_no_findings_offline():
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--collect=all", "--no-progress", str(GITHUB)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_action_is_pinned_by_full_commit_sha_with_a_version_comment(path):
    for uses in uses_lines(path):
        if uses.startswith("$/"):  # this repository's own reusable workflow: same commit by definition
            continue
        assert FULL_SHA_WITH_VERSION.match(uses), f"{path.name}: {uses}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_checkout_never_persists_the_token(path):
    checkouts = [step for step in steps(load(path)) if step.get("uses", "").startswith("actions/checkout@")]
    assert checkouts, path.name
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False, path.name


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_top_level_permissions_are_least_privilege(path):
    assert load(path)["permissions"] in ({}, {"contents": "read"}), path.name


def test_only_the_publish_image_job_may_write_packages():
    writers = {
        (path.name, name)
        for path in WORKFLOWS
        for name, job in load(path)["jobs"].items()
        if any(value == "write" for value in (job.get("permissions") or {}).values())
    }
    assert writers == {("publish.yml", "image")}
    permissions = load(GITHUB / "workflows" / "publish.yml")["jobs"]["image"]["permissions"]
    assert permissions == {
        "contents": "read",
        "packages": "write",
        "id-token": "write",
        "attestations": "write",
    }


def test_publish_runs_on_main_and_version_tags_after_the_ci_gate():
    publish = load(GITHUB / "workflows" / "publish.yml")
    assert triggers(publish) == {"push": {"branches": ["main"], "tags": ["v*"]}}
    assert publish["jobs"]["ci"]["uses"] == "$/.github/workflows/ci.yml"
    assert publish["jobs"]["image"]["needs"] == "ci"
    assert "workflow_call" in triggers(load(GITHUB / "workflows" / "ci.yml"))


def test_publish_tags_images_by_sha_semver_and_latest_on_main():
    by_name = {step.get("name"): step for step in steps(load(GITHUB / "workflows" / "publish.yml"))}
    tags = by_name["Tags and labels"]["with"]["tags"].split()
    assert "type=sha" in tags
    assert "type=semver,pattern={{version}}" in tags
    assert "type=raw,value=latest,enable={{is_default_branch}}" in tags
    assert by_name["Tags and labels"]["with"]["flavor"] == "latest=false"


def test_publish_pushes_production_and_test_images_with_cache_provenance_and_sbom():
    publish = load(GITHUB / "workflows" / "publish.yml")
    job = publish["jobs"]["image"]
    assert {(entry["target"], entry["suffix"]) for entry in job["strategy"]["matrix"]["include"]} == {
        ("prod", ""),
        ("test", "-test"),
    }
    by_name = {step.get("name"): step for step in job["steps"]}
    build = by_name["Build and push"]["with"]
    assert build["push"] is True
    assert build["cache-from"].startswith("type=gha")
    assert build["cache-to"].startswith("type=gha")
    assert build["provenance"] == "mode=max"
    assert build["sbom"] is True
    attest = by_name["Attest build provenance"]
    assert attest["uses"].startswith("actions/attest-build-provenance@")
    assert attest["with"]["push-to-registry"] is True


def test_ci_builds_every_dockerfile_stage_without_pushing():
    job = load(GITHUB / "workflows" / "ci.yml")["jobs"]["image"]
    assert sorted(job["strategy"]["matrix"]["target"]) == sorted(dockerfile_stages())
    build = next(step for step in job["steps"] if "build-push-action" in step.get("uses", ""))
    assert build["with"]["push"] is False
    assert build["with"]["cache-from"].startswith("type=gha")


def test_ci_runs_lint_and_the_suite_against_postgis_and_redis_service_containers():
    jobs = load(GITHUB / "workflows" / "ci.yml")["jobs"]
    lint = "\n".join(step.get("run", "") for step in jobs["lint"]["steps"])
    commands = ("ruff check", "ruff format --check", "shellcheck", "check-jsonschema", "zizmor --offline")
    for command in commands:
        assert command in lint
    services = jobs["tests-services"]["services"]
    assert services["postgis"]["image"] == "postgis/postgis:15-3.3"
    assert services["redis"]["image"].startswith("redis:7")
    env = jobs["tests-services"]["env"]
    assert "@postgis:5432/" in env["STOPSYNC_TEST_DATABASE_URL"]
    assert env["STOPSYNC_TEST_REDIS_URL"].startswith("redis://redis:6379/")
    assert any(step.get("run", "").startswith(".ci/run") for step in jobs["tests-harness"]["steps"])


def test_dependabot_watches_pip_npm_actions_and_docker():
    updates = load(GITHUB / "dependabot.yml")["updates"]
    assert {update["package-ecosystem"] for update in updates} >= {"pip", "npm", "github-actions", "docker"}
