"""What counts as an error: failed requests by kind, and failed expectations.

Runs in: the load-testing client process. Pure functions over exceptions and
responses' status and body, tested without a server.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx

# An exception's kind is the first class of its MRO found here, so the most
# specific httpx class wins and a new httpx subclass still lands somewhere.
FAILURE_KINDS: dict[type[BaseException], str] = {
    httpx.ConnectTimeout: "connect timeout",
    httpx.ReadTimeout: "read timeout",
    httpx.WriteTimeout: "write timeout",
    httpx.PoolTimeout: "pool timeout",
    httpx.TimeoutException: "timeout",
    httpx.ConnectError: "connect error",
    httpx.ReadError: "read error",
    httpx.WriteError: "write error",
    httpx.CloseError: "close error",
    httpx.RemoteProtocolError: "remote protocol error",
    httpx.LocalProtocolError: "local protocol error",
    httpx.DecodingError: "decoding error",
    httpx.HTTPError: "other http error",
    OSError: "os error",
}

STATUS_MISMATCH = "status mismatch"
BODY_MISMATCH = "body mismatch"


def failure_kind(exc: BaseException) -> str:
    """The error kind a request that raised `exc` is counted under."""
    for cls in type(exc).__mro__:
        if cls in FAILURE_KINDS:
            return FAILURE_KINDS[cls]
    return f"other: {type(exc).__name__}"


@dataclass(frozen=True)
class Expectations:
    """`--expect-status` and `--expect-body-sha256`; None means not checked."""

    status: int | None = None
    body_sha256: str | None = None

    def mismatch(self, status: int, body: bytes) -> str | None:
        """The kind of the first failed check, or None when the response passes."""
        if self.status is not None and status != self.status:
            return STATUS_MISMATCH
        if self.body_sha256 is not None and hashlib.sha256(body).hexdigest() != self.body_sha256:
            return BODY_MISMATCH
        return None
