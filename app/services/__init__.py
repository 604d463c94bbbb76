"""Queries and decisions used by handlers, the CLI and jobs. They flush, never commit."""
