"""The StopSync pipeline: sources → parse → match → detect problems → atomic import.

`matching` and `problems` are pure (plain records in, plain records out); `fetch`, the source
parsers and `importer` are the stages at the edges; `run.run_pipeline` ties them together.
"""
