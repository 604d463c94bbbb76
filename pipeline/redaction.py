"""What may leave the server: scrubbing text for anonymous readers, and failures as short messages.

Two strengths of redaction, both pure functions of text:

- `redact_credentials`: for the server log and admin views. URLs keep their host and path but lose
  their userinfo (`user:password@`) and the values of query parameters that look like credentials
  (`?token=`, `api_key=`, `sig=`...). Nothing else changes.
- `scrub_text`: for everyone else (run history, status and event stream as anonymous readers see
  them). A URL is cut to `scheme://host/…` (a webhook URL is a secret in its path, a source URL may
  carry a token), absolute file paths become `<path>`, e-mail addresses `<email>`, and a traceback
  is cut off with everything after it.

`report_failure` turns an exception into what a run stores and shows: a short message plus an
error id. The traceback goes to the server log under the same id, so an admin finds it with
`grep 'error id 3f9c2a1b'`. Typed pipeline errors (`pipeline.errors`) are written for users and
keep their message (scrubbed); any other exception is named by its class only, because its text
may hold SQL, host names, account names or paths.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import traceback
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pipeline.errors import PipelineError

PATH_PLACEHOLDER = "<path>"
EMAIL_PLACEHOLDER = "<email>"
REDACTED = "***"
TRACEBACK_MARK = "Traceback (most recent call last)"
TRACEBACK_OMITTED = "(details in the server log)"
MAX_ERROR_CHARS = 300
# The attribute under which report_failure remembers its report on the exception, so a failure
# seen by the pipeline and again by the run guard keeps one id and one traceback in the log.
_REPORT_ATTRIBUTE = "_stopsync_failure_report"

# scheme://[userinfo@][IPv6 literal]anything-up-to-whitespace-or-a-quote/bracket. Trailing
# punctuation is given back below. Like _EMAIL it starts only where a token starts (the lookbehind):
# trying again after every dot of `a.a.a.…` would make a long text cost quadratic time.
_URL = re.compile(
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://(?:[^\s'\"<>()\[\]{}`@/]*@)?(?:\[[\w:.%]+\])?[^\s'\"<>()\[\]{}`]*"
)
_TRAILING = ".,;:!?"
# `file:/x/y`, `file:data/demo`: a local path however it is spelled.
_FILE_URI = re.compile(r"\bfile:[^\s'\"<>()\[\]{}`]+")
# An absolute POSIX path with at least two parts (`/work/main`, `/tmp/x.csv`) or one part with an
# extension (`/x.py`). Not after a word character, slash, dot or colon: `km/h`, `1/2`, `a//b`,
# `https://host/…` and `registry / OSM` stay as they are.
_PART = r"[\w.@~+%=-]+"
_PATH = re.compile(rf"(?<![\w/.:~-])(?:~?/{_PART}(?:/{_PART})+/?|/{_PART}\.[A-Za-z0-9]{{1,10}}\b)")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b")
_SECRET_QUERY_KEY = re.compile(r"token|key|secret|pass|pwd|auth|sig|credential|session|code", re.IGNORECASE)


def _split_trailing(match: str) -> tuple[str, str]:
    """A URL at the end of a sentence: keep the full stop out of it."""
    stripped = match.rstrip(_TRAILING)
    return stripped, match[len(stripped) :]


def url_host(url: str) -> str:
    """`host` or `host:port` of a URL, never its path, query or credentials ("?" when unparsable)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "?"
    if not host:
        return "?"
    if ":" in host:  # an IPv6 literal needs its brackets back
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def redact_url(url: str) -> str:
    """`url` without userinfo and with credential-like query values replaced by `***`."""
    try:
        parts = urlsplit(url)
        host = url_host(url) if parts.netloc else ""
    except ValueError:
        return f"{url.split(':', 1)[0]}://{REDACTED}"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_QUERY_KEY.search(key) for key, _ in pairs):
            query = urlencode(
                [(key, REDACTED if _SECRET_QUERY_KEY.search(key) else value) for key, value in pairs],
                safe="*",
                quote_via=quote,
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def public_url(url: str) -> str:
    """What anonymous readers see of a URL: its scheme and host, `…` for anything after them."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{url.split(':', 1)[0]}://?"
    rest = parts.path not in ("", "/") or parts.query or parts.fragment
    return f"{parts.scheme}://{url_host(url)}" + ("/…" if rest else "")


def redact_credentials(text: str) -> str:
    """`text` with every URL's credentials removed (host and path kept): for logs and admins."""

    def replace(match: re.Match[str]) -> str:
        url, trailing = _split_trailing(match.group(0))
        return redact_url(url) + trailing

    return _URL.sub(replace, text)


def scrub_text(text: str) -> str:
    """`text` as anyone may read it: no traceback, URLs cut to their host, no paths, no e-mails."""
    if not text:
        return text
    cut = text.find(TRACEBACK_MARK)
    if cut >= 0:
        text = (text[:cut].rstrip() + " " + TRACEBACK_OMITTED).strip()

    def replace_url(match: re.Match[str]) -> str:
        url, trailing = _split_trailing(match.group(0))
        return public_url(url) + trailing

    text = _FILE_URI.sub("file:" + PATH_PLACEHOLDER, text)
    text = _URL.sub(replace_url, text)
    text = _PATH.sub(PATH_PLACEHOLDER, text)
    return _EMAIL.sub(EMAIL_PLACEHOLDER, text)


def scrub_value(value: Any) -> Any:
    """`scrub_text` applied to every string inside a JSON-like value (dicts, lists, scalars)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: scrub_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(item) for item in value]
    return value


def redact_value(value: Any) -> Any:
    """`redact_credentials` applied to every string inside a JSON-like value."""
    if isinstance(value, str):
        return redact_credentials(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


def first_line(text: str) -> str:
    """The first non-empty line of `text`, stripped ("" when there is none)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def short_message(exc: BaseException) -> str:
    """A message about `exc` that anyone may read: a typed pipeline error's own (scrubbed) first
    line, otherwise only the exception's class."""
    if isinstance(exc, PipelineError):
        message = scrub_text(first_line(str(exc)))
        if message:
            return message[:MAX_ERROR_CHARS]
    return f"unexpected {type(exc).__name__}"


def new_error_id() -> str:
    """A short random id that ties a stored error to its traceback in the server log."""
    return secrets.token_hex(4)


def report_failure(exc: BaseException, log: logging.Logger, what: str) -> str:
    """Log `exc` with its traceback (credentials redacted) under a new error id and return what the
    run stores: `"<short message> (error id <id>)"`. A second call for the same exception returns
    the first report without logging again."""
    known = getattr(exc, _REPORT_ATTRIBUTE, None)
    if isinstance(known, str):
        return known
    error_id = new_error_id()
    report = f"{short_message(exc)} (error id {error_id})"
    details = redact_credentials("".join(traceback.format_exception(exc)).rstrip())
    # One record: the first line is what the live log forwards (it carries the id); the
    # traceback after it stays in the server log.
    log.error("%s failed: %s\n%s", what, report, details)
    # Exceptions with __slots__ refuse the attribute: the caller then just logs once more.
    with contextlib.suppress(AttributeError):
        setattr(exc, _REPORT_ATTRIBUTE, report)
    return report
