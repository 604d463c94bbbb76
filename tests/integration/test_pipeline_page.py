"""The /pipeline page: served to everyone, "Run now" only for admins, CSP-clean markup and assets."""

from __future__ import annotations

import re

from tests import factories as f


def test_the_pipeline_page_lists_the_stages_and_loads_its_script_without_inline_code(client):
    response = client.get("/pipeline")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-stages="fetch,parse,match,problems,import"' in html
    assert 'data-stream-url="/api/v1/pipeline/stream"' in html
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts
    # External scripts only, besides JSON data blocks (the page language's messages), which no
    # browser executes and the CSP does not govern.
    assert all("src=" in tag or 'type="application/json"' in tag for tag in scripts), (
        "no inline script (the CSP would block it)"
    )
    assert " style=" not in html
    assert not re.search(r"\son[a-z]+=", html), "no inline event handlers"
    assert "Run now" not in html, "anonymous visitors cannot start runs"
    script_url = re.search(r'src="(/static/js/pipeline\.js[^"]*)"', html).group(1)
    css_url = re.search(r'href="(/static/css/pipeline\.css[^"]*)"', html).group(1)
    assert client.get(script_url).status_code == 200
    assert client.get(css_url).status_code == 200


def test_admins_get_the_run_now_button_and_editors_do_not(app, client):
    f.login_as(client, role="editor")
    assert "Run now" not in client.get("/pipeline").get_data(as_text=True)

    admin_client = app.test_client()
    f.login_as(admin_client, role="admin")
    html = admin_client.get("/pipeline").get_data(as_text=True)
    assert 'id="run-now"' in html
    assert 'data-can-run="true"' in html
