#!/usr/bin/env bash
# One entrypoint for every role: app | scheduler | migrator | test | <any command>.
# Waits (bounded) until the database accepts connections, then execs the role so signals reach it.
set -euo pipefail

role=${1:-app}
shift || true

wait_for_database() {
  local deadline=${DB_WAIT_SECONDS:-60}
  python - "$deadline" <<'PY'
import sys, time
import psycopg
from sqlalchemy.engine import make_url

deadline = time.monotonic() + float(sys.argv[1])
import os
url = make_url(os.environ["DATABASE_URL"])
conninfo = dict(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                dbname=url.database, connect_timeout=3)
while True:
    try:
        psycopg.connect(**conninfo).close()
        sys.exit(0)
    except psycopg.OperationalError as exc:
        if time.monotonic() > deadline:
            print(f"entrypoint: database not reachable after {sys.argv[1]} s: {exc}", file=sys.stderr)
            sys.exit(1)
        time.sleep(1)
PY
}

# Flask's own reading of FLASK_DEBUG: anything but empty, 0, false or no turns debug mode on.
debug_requested() {
  local value
  value=$(printf '%s' "${FLASK_DEBUG:-}" | tr '[:upper:]' '[:lower:]')
  case "$value" in
    "" | 0 | false | no) return 1 ;;
    *) return 0 ;;
  esac
}

# The debug server runs any Python its console is sent. In a container it has to listen on 0.0.0.0
# for a published port to reach it, so who can reach it is decided by the address compose publishes
# on: APP_BIND, which docker-compose.override.yml hands in with the same default as the port line.
# Start it only for development and only when that address is loopback; refuse anything else.
refuse_unsafe_debug_server() {
  if [ "${STOPSYNC_ENV:-production}" = "production" ]; then
    echo "entrypoint: FLASK_DEBUG is set but STOPSYNC_ENV is production; refusing to start the debug server" >&2
    exit 64
  fi
  case "${APP_BIND:-}" in
    127.* | ::1 | "[::1]" | localhost) ;;
    *)
      echo "entrypoint: FLASK_DEBUG is set but APP_BIND=${APP_BIND:-<unset>} is not a loopback address;" \
        "the debug server runs code sent to it, so it is only published on 127.0.0.1 (set APP_BIND=127.0.0.1)" >&2
      exit 64
      ;;
  esac
}

case "$role" in
  app)
    if debug_requested; then
      refuse_unsafe_debug_server
      wait_for_database
      exec flask --app "app:create_app" run --host 0.0.0.0 --port 5001 --debug
    fi
    wait_for_database
    # gevent workers, as devstack.services.gunicorn_command: a live stream (SSE) waits in a greenlet
    # instead of holding a request thread. No --preload: psycopg must be imported after the worker's
    # monkey-patching to pick its cooperative wait function.
    exec gunicorn "app:create_app()" --bind 0.0.0.0:5001 --worker-class gevent \
      --workers "${GUNICORN_WORKERS:-2}" --worker-connections "${GUNICORN_WORKER_CONNECTIONS:-256}" \
      --timeout 60 --access-logfile - --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}"
    ;;
  scheduler)
    wait_for_database
    exec python -m scheduler
    ;;
  migrator)
    # The migrator waits for the database itself, with its own deadline and message.
    exec python -m migrator
    ;;
  test)
    wait_for_database
    exec python -m pytest "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
