"""Webhook signatures with a timestamp, so a receiver can refuse replays (the scheme Stripe uses).

Every webhook POST carries

    X-StopSync-Timestamp: 1764464400
    X-StopSync-Signature: t=1764464400,v1=<hex HMAC-SHA256(WEBHOOK_SECRET, "1764464400." + raw body)>

The signed bytes are the timestamp, a full stop and the raw request body, so neither the body nor
the time can be changed without the secret, and a captured request replayed later fails the age
check. A header may hold several `v1=` values (while a secret is being rotated); one match is enough.

`verify` below is the receiver's side. It uses only the standard library: copy it as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-StopSync-Signature"
TIMESTAMP_HEADER = "X-StopSync-Timestamp"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `X-StopSync-Signature` value for `body` sent at `timestamp` (unix seconds, default now)."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={stamp},{SCHEME}={_digest(secret, stamp, body)}"


def verify(
    secret: str, header: str, body: bytes, tolerance_s: float = DEFAULT_TOLERANCE_S, now: float | None = None
) -> bool:
    """True when `header` (the X-StopSync-Signature value) signs `body` (the raw request body, as
    bytes) with `secret`, and its timestamp is within `tolerance_s` seconds of `now` (default: the
    current time). Anything else, a malformed header included, is False: answer 400 and drop it."""
    timestamp, signatures = None, []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False  # too old (a replay) or from the future
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
