# syntax=docker/dockerfile:1
# Stages: base (runtime deps) -> dev (live reload) -> test (test deps + tests) ; base -> prod (slim, default).

FROM python:3.11-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=runs.cli:create_app
# postgresql-client: pg_dump/pg_restore for backups (the migrator can take one before upgrading).
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client curl \
 && rm -rf /var/lib/apt/lists/*
ARG APP_UID=1000
ARG APP_GID=1000
RUN groupadd --gid "${APP_GID}" stopsync && useradd --uid "${APP_UID}" --gid stopsync --create-home stopsync
WORKDIR /srv/stopsync
COPY pyproject.toml ./
# Install the pinned dependencies first so code changes do not invalidate this layer.
RUN python - <<'PY' > /tmp/requirements.txt
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))
PY
RUN pip install -r /tmp/requirements.txt

FROM base AS dev
RUN python - <<'PY' > /tmp/requirements-test.txt
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["test"]))
PY
RUN pip install -r /tmp/requirements-test.txt
COPY --chown=stopsync:stopsync . .
USER stopsync
ENV FLASK_DEBUG=1
EXPOSE 5001
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:5001/healthz || exit 1
ENTRYPOINT ["/srv/stopsync/entrypoint.sh"]
CMD ["app"]

FROM dev AS test
ENV FLASK_DEBUG=0
CMD ["test"]

FROM base AS prod
COPY --chown=stopsync:stopsync app ./app
COPY --chown=stopsync:stopsync scheduler ./scheduler
COPY --chown=stopsync:stopsync migrator ./migrator
COPY --chown=stopsync:stopsync database ./database
COPY --chown=stopsync:stopsync pipeline ./pipeline
COPY --chown=stopsync:stopsync runs ./runs
COPY --chown=stopsync:stopsync frontend_vendor ./frontend_vendor
COPY --chown=stopsync:stopsync data/demo ./data/demo
COPY --chown=stopsync:stopsync entrypoint.sh ./entrypoint.sh
# backups: owner-only from the start (a named volume copies this mode when first mounted).
RUN mkdir -p data/cache backups && chown stopsync:stopsync data data/cache backups && chmod 0700 backups
USER stopsync
EXPOSE 5001
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:5001/healthz || exit 1
ENTRYPOINT ["/srv/stopsync/entrypoint.sh"]
CMD ["app"]
