"""The one blueprint every server-rendered page, feed and static file is a route of.

It lives in its own module so the page modules (`app/pages/*.py`) can import it while
`app/pages/__init__.py` imports them to attach their routes.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pages", __name__)
