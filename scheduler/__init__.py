"""The APScheduler worker: runs the pipeline on its schedule and on request."""
