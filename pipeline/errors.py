"""Errors raised by pipeline stages."""

from __future__ import annotations

from pipeline.text import clean_text


class PipelineError(RuntimeError):
    """A pipeline stage failed; the message is meant for the run's `error` column."""


class SourceError(PipelineError):
    """A source delivered data we refuse to import. The message names the source, line and reason."""

    def __init__(self, source: str, reason: str, line: int | None = None, path: str | None = None) -> None:
        self.source = source
        # A reason may quote the source (an Overpass remark): recorded in pipeline_runs, so storable.
        self.reason = reason = clean_text(reason)
        self.line = line
        self.path = path
        where = f" line {line}" if line is not None else ""
        file_part = f" ({path})" if path else ""
        super().__init__(f"source {source}{file_part}{where}: {reason}")


class FetchError(SourceError):
    """A download failed (HTTP error, too large, timeout) or returned something that is not data."""
