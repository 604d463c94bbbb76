"""Outages, timed: what readers see while PostgreSQL or Redis is gone, and how fast the app recovers.

    .venv/bin/python -m bench.outages

gunicorn as in production against a throwaway stack with the demo data (Liechtenstein) imported by
`flask pipeline run`. A reader thread asks for the map of the demo region (the API's bbox query)
back to back, from before the outage until after recovery; nothing is restarted but the server
that goes away. Figures: the slowest answer while down, how long after the server is back the
first 200 comes, and every status seen (the fault tests in tests/faults/ assert the same bounds).
"""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

from bench.common import PYTHON, ROOT, BenchStack, Figure, Server, bench_stack, format_table, gunicorn, say

MAP = "/api/v1/stops?bbox=9.47,47.04,9.64,47.28&limit=2000"
DOWN_S = 5.0  # how long each server stays away


class Reader(threading.Thread):
    """Requests `path` back to back; records (time sent, status, seconds) of every answer."""

    def __init__(self, server: Server, path: str) -> None:
        super().__init__(daemon=True)
        self.server, self.path = server, path
        self.answers: list[tuple[float, int, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            sent = time.monotonic()
            try:
                with urllib.request.urlopen(self.server.base_url + self.path, timeout=30) as response:  # noqa: S310
                    response.read()
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = 0
            self.answers.append((sent, status, time.monotonic() - sent))


def _episode(server: Server, down, up) -> dict:
    """Take a server away for DOWN_S, bring it back; what the reader saw."""
    reader = Reader(server, MAP)
    reader.start()
    time.sleep(1)
    went_down = time.monotonic()
    down()
    time.sleep(DOWN_S)
    came_back = time.monotonic()
    up()
    deadline = came_back + 60
    while time.monotonic() < deadline:
        if any(sent >= came_back and status == 200 for sent, status, _ in list(reader.answers)):
            break
        time.sleep(0.05)
    time.sleep(1)
    reader.stopping.set()
    reader.join(timeout=30)
    during = [(s, st, d) for s, st, d in reader.answers if went_down <= s < came_back]
    after = [(s, st, d) for s, st, d in reader.answers if s >= came_back]
    first_ok = next((s + d for s, st, d in after if st == 200), None)
    return {
        "statuses": Counter(status for _, status, _ in reader.answers),
        "during_statuses": Counter(status for _, status, _ in during),
        "slowest_during_ms": max((d for _, _, d in during), default=0.0) * 1000,
        "recovery_s": None if first_ok is None else first_ok - came_back,
        "answers": len(reader.answers),
    }


def _fmt(counter: Counter) -> str:
    return ", ".join(f"{count}x {status or 'no answer'}" for status, count in sorted(counter.items()))


def run(keep: bool = False) -> list[Figure]:
    with bench_stack(keep=keep) as stack:
        _import_demo(stack)
        with gunicorn(stack) as server:
            say(f"PostgreSQL away for {DOWN_S:.0f} s while the map is read")
            pg = _episode(server, lambda: stack.postgres.stop(mode="fast"), stack.postgres.start)
            say(f"Redis away for {DOWN_S:.0f} s while the map is read")
            rd = _episode(server, stack.redis.stop, stack.redis.start)
    other_pg = set(pg["statuses"]) - {200, 503}
    other_rd = set(rd["statuses"]) - {200}
    return [
        Figure("PostgreSQL down: slowest answer", pg["slowest_during_ms"], "ms", 2000.0, note="503 JSON"),
        Figure("PostgreSQL back: first 200 after", pg["recovery_s"], "s", 10.0, note="no app restart"),
        Figure(
            "PostgreSQL outage: answers not 200/503",
            float(sum(pg["statuses"][s] for s in other_pg)),
            "",
            0.0,
            note=f"while down: {_fmt(pg['during_statuses'])}",
        ),
        Figure("Redis down: slowest map answer", rd["slowest_during_ms"], "ms", 3000.0),
        Figure(
            "Redis outage: map answers not 200",
            float(sum(rd["statuses"][s] for s in other_rd)),
            "",
            0.0,
            note=f"while down: {_fmt(rd['during_statuses'])}",
        ),
        Figure("Redis back: first 200 after", rd["recovery_s"], "s", 10.0),
    ]


def _import_demo(stack: BenchStack) -> None:
    say("importing the demo data with `flask pipeline run`")
    subprocess.run(
        [PYTHON, "-m", "flask", "pipeline", "run", "--source-dir", str(ROOT / "data" / "demo")],
        env=stack.env(),
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )


def main() -> None:
    print(format_table(run()))


if __name__ == "__main__":
    main()
