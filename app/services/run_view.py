"""What a reader may see of a pipeline run: the one place that decides the public and the admin view.

Everyone may read the run history, the live status and the event stream, so by default they show
the public view: no account names (`requested_by`), no `host:pid` owner, and every text scrubbed
(`pipeline.redaction.scrub_text`: URLs cut to their host, no file paths, no e-mail addresses, no
tracebacks). Admins get the details: who asked, which process runs it, full source locations with
their credentials still redacted. Stored errors are already short messages with an error id
(`pipeline.redaction.report_failure`); the traceback is only in the server log.

The event stream is one Redis stream shared by every reader, so it carries the public view only:
`pipeline_state.publish_event` applies `public_event_data` before writing and again when reading
(old entries), and the stream's status snapshot is the public status. Admins find the details in
`GET /api/v1/pipeline/status` and `/runs` (role-aware) and in the server log.

Pure functions over the dicts the serialisers build; the caller (a view function) decides
`detailed`, so services never look at the request.
"""

from __future__ import annotations

from typing import Any

from pipeline.redaction import redact_value, scrub_text, scrub_value

# Fields naming a person or a machine: admins only. Kept as null for others, so the shape is stable.
ACCOUNT_AND_HOST_FIELDS = ("requested_by", "owner")
# Free text written by the pipeline or stored from errors: scrubbed for the public view.
TEXT_FIELDS = ("message", "error", "last_error")


def _nulled(data: dict[str, Any]) -> dict[str, Any]:
    return {key: None if key in ACCOUNT_AND_HOST_FIELDS else value for key, value in data.items()}


def run(full: dict[str, Any], *, detailed: bool) -> dict[str, Any]:
    """One `pipeline_runs` row as the API serves it. Admins: credentials redacted (rows written
    before redaction existed may hold some); others: no account names, every text scrubbed."""
    if detailed:
        return redact_value(full)
    public = _nulled(full)
    for key in ("error", "counts", "source_versions"):
        if key in public:
            public[key] = scrub_value(public[key])
    return public


def status(full: dict[str, Any], *, detailed: bool) -> dict[str, Any]:
    """The live status (`StatusView.as_dict`) for admins (details) or anyone else (public)."""
    if detailed:
        return redact_value(full)
    public = _nulled(full)
    for key in TEXT_FIELDS:
        if isinstance(public.get(key), str):
            public[key] = scrub_text(public[key])
    if isinstance(public.get("queued"), dict):
        public["queued"] = _nulled(public["queued"])
    return public


def event_data(data: dict[str, Any]) -> dict[str, Any]:
    """An event's data as every stream reader sees it: no account or host fields, texts scrubbed."""
    return {key: scrub_value(value) for key, value in data.items() if key not in ACCOUNT_AND_HOST_FIELDS}
