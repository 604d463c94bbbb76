"""A run's webhooks: after each successful run, every target in WEBHOOK_URLS receives the P1
problems that run made appear and that pass its filters, as one JSON POST signed with a timestamp
(`app.services.webhook_signature`). The targets and the problems come from `app.services.feeds`
(the Atom feed's query); delivery happens here, in the process that ran the pipeline.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from app.services.feeds import (
    FEED_PRIORITY,
    WebhookTarget,
    parse_webhook_targets,
    problems_appeared_in_run,
    stop_path,
)
from app.services.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from pipeline.redaction import url_host

logger = logging.getLogger(__name__)

EVENT_HEADER = "X-StopSync-Event"


def webhook_payload(run_id: int, items: Iterable[Mapping[str, Any]], base_url: str) -> dict[str, Any]:
    problems = [
        {
            "identity": item["identity"],
            "problem_type": item["problem_type"],
            "priority": item["priority"],
            "message": item["message"],
            # The registry holding stop_id (two registries may use one id); None for OSM-only problems.
            "source": item.get("source") if item.get("stop_id") else None,
            "stop_id": item.get("stop_id"),
            "osm_key": item.get("osm_key"),
            "operator_code": item.get("operator_code"),
            "region": item.get("region"),
            "distance_m": item.get("distance_m"),
            "lat": item["lat"],
            "lon": item["lon"],
            "url": base_url.rstrip("/") + stop_path(item),
        }
        for item in items
    ]
    return {"event": "problems.appeared", "run_id": run_id, "priority": FEED_PRIORITY, "problems": problems}


@dataclass(frozen=True)
class Delivery:
    """How one target's delivery went: the target by its 1-based position in WEBHOOK_URLS and its
    host, never its URL (the URL is the secret that lets anyone post to the receiver)."""

    target: int
    host: str
    count: int
    status: int | None
    error: str | None


def deliver_webhooks(
    run_id: int,
    items: Sequence[Mapping[str, Any]],
    targets: Sequence[WebhookTarget],
    *,
    secret: str,
    timeout_s: float,
    base_url: str,
) -> list[Delivery]:
    """POST each target its filtered items. Never raises: a failed delivery is logged and returned."""
    results = []
    for position, target in enumerate(targets, start=1):
        host = url_host(target.url)
        selected = [item for item in items if target.filter.accepts(item)]
        if not selected:
            continue
        body = json.dumps(webhook_payload(run_id, selected, base_url), default=str).encode()
        headers = {"Content-Type": "application/json", EVENT_HEADER: "problems.appeared"}
        if secret:
            timestamp = int(time.time())
            headers[TIMESTAMP_HEADER] = str(timestamp)
            headers[SIGNATURE_HEADER] = sign(secret, body, timestamp)
        try:
            response = requests.post(
                target.url, data=body, headers=headers, timeout=timeout_s, allow_redirects=False
            )
            ok = 200 <= response.status_code < 300
            if not ok:
                logger.warning("webhook target %d (%s) answered %s", position, host, response.status_code)
            results.append(
                Delivery(position, host, len(selected), response.status_code, None if ok else "status")
            )
        except requests.RequestException as exc:
            # The run already succeeded; a subscriber being down must not change that.
            logger.warning("webhook target %d (%s) failed: %s", position, host, type(exc).__name__)
            results.append(Delivery(position, host, len(selected), None, type(exc).__name__))
    return results


def notify_after_run(run_id: int, settings: Any) -> list[Delivery]:
    """Send the P1 problems `run_id` made appear to every configured target. Never raises."""
    try:
        targets = parse_webhook_targets(settings.WEBHOOK_URLS)
        if not targets:
            return []
        items = problems_appeared_in_run(run_id)
        if not items:
            return []
        return deliver_webhooks(
            run_id,
            items,
            targets,
            secret=settings.WEBHOOK_SECRET,
            timeout_s=settings.WEBHOOK_TIMEOUT_S,
            base_url=settings.PUBLIC_BASE_URL,
        )
    except Exception:
        logger.exception("webhook notification after run %s failed", run_id)
        return []
