"""The vendored front-end libraries match their manifest, and no page loads anything from elsewhere."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "frontend_vendor"
MANIFEST = VENDOR / "manifest.json"
TEMPLATES = ROOT / "app" / "pages" / "templates"
STATIC = ROOT / "app" / "static"
LICENCE_NAME = re.compile(r"^LICEN[CS]E", re.IGNORECASE)


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def _manifest_files() -> dict[str, dict]:
    return {entry["path"]: entry for package in _manifest()["packages"] for entry in package["files"]}


def _templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def test_every_vendored_file_has_the_sha256_its_manifest_records():
    for path, entry in _manifest_files().items():
        file = VENDOR / path
        assert file.is_file(), f"{path} is listed in the manifest but missing"
        content = file.read_bytes()
        assert hashlib.sha256(content).hexdigest() == entry["sha256"], f"{path} differs from the manifest"
        assert len(content) == entry["bytes"], path


def test_frontend_vendor_holds_no_file_the_manifest_does_not_list():
    on_disk = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()}
    assert on_disk - {"manifest.json"} == set(_manifest_files())


def test_manifest_versions_are_the_versions_package_json_pins():
    package_json = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    pins = {**package_json.get("dependencies", {}), **package_json.get("devDependencies", {})}
    for package in _manifest()["packages"]:
        assert pins.get(package["name"]) == package["version"], package["name"]
        # An exact version, not a range: the vendored files must be reproducible.
        assert re.fullmatch(r"\d+\.\d+\.\d+", package["version"]), package["name"]


def test_every_vendored_package_ships_its_licence_text():
    for package in _manifest()["packages"]:
        assert package["licence"], package["name"]
        names = [Path(entry["path"]).name for entry in package["files"]]
        assert any(LICENCE_NAME.match(name) for name in names), f"{package['name']} has no licence file"
        for bundled in package.get("bundles", []):
            assert bundled["licence"], f"{bundled['name']} bundled in {package['name']}"


def test_package_lock_pins_the_same_versions_as_package_json():
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    for package in _manifest()["packages"]:
        locked = lock["packages"][f"node_modules/{package['name']}"]
        assert locked["version"] == package["version"], package["name"]
        assert locked["integrity"].startswith("sha512-"), package["name"]


EXTERNAL_ASSET = re.compile(
    r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE
)


@pytest.mark.parametrize("template", _templates(), ids=lambda p: p.name)
def test_no_template_loads_a_script_or_style_from_another_site(template: Path):
    text = template.read_text(encoding="utf-8")
    assert not EXTERNAL_ASSET.search(text), "third-party assets belong in frontend_vendor/, not on a CDN"
    assert "@import" not in text


def test_our_css_imports_nothing_from_another_site():
    for css in STATIC.rglob("*.css"):
        text = css.read_text(encoding="utf-8")
        assert not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//", text), css.name
        assert "@import" not in text, css.name


INLINE_HANDLER = re.compile(r"<[a-z][^>]*\s(on[a-z]+)\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)


@pytest.mark.parametrize("template", _templates(), ids=lambda p: p.name)
def test_templates_need_no_unsafe_inline_in_the_content_security_policy(template: Path):
    text = template.read_text(encoding="utf-8")
    assert not INLINE_HANDLER.search(text), "inline event handlers are blocked by the CSP"
    assert not STYLE_ATTRIBUTE.search(text), "style attributes are blocked by the CSP: use a CSS class"
    assert "<style" not in text.lower(), "inline <style> is blocked by the CSP: use app/static/css"
    for attributes in SCRIPT_TAG.findall(text):
        executable = "application/json" not in attributes
        if executable:
            assert "src=" in attributes or "csp_nonce()" in attributes, (
                'an inline script needs nonce="{{ csp_nonce() }}"'
            )


def test_templates_reference_only_vendored_files_that_exist():
    listed = set(_manifest_files())
    for template in _templates():
        for path in re.findall(r"vendor_url\(\s*['\"]([^'\"]+)['\"]", template.read_text(encoding="utf-8")):
            assert path in listed, f"{template.name} asks for {path}, which is not vendored"


def test_templates_reference_only_static_files_that_exist():
    for template in _templates():
        for path in re.findall(r"asset_url\(\s*['\"]([^'\"]+)['\"]", template.read_text(encoding="utf-8")):
            assert (STATIC / path).is_file(), f"{template.name} asks for app/static/{path}"
