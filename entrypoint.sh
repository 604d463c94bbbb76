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

case "$role" in
  app)
    wait_for_database
    if [ "${FLASK_DEBUG:-0}" = "1" ]; then
      exec flask --app "app:create_app" run --host 0.0.0.0 --port 5001 --debug
    fi
    exec gunicorn "app:create_app()" --bind 0.0.0.0:5001 \
      --workers "${GUNICORN_WORKERS:-2}" --threads "${GUNICORN_THREADS:-4}" \
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
