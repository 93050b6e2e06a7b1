"""What a worker tells main when it cannot load the app: text, and why, as data.

Runs in: main and worker interpreters. A pool report carries one string;
a failure's string is this JSON envelope, so the supervisor can tell a
refused isolated interpreter (which ``--worker-kind auto`` answers by
serving the app another way) from any other failure, and name the module
and distribution that refused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LoadFailure:
    """Why a worker could not load the app."""

    text: str                                   # the message for the user
    refused: dict[str, str | None] | None = None  # isolation.refusal.Refusal's fields

    def encode(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def decode(cls, message: str | None) -> LoadFailure:
        """The failure a report's message holds; a message that is not an
        envelope (an interpreter that could not even start) is its text."""
        if not message:
            return cls("a worker exited while loading the app")
        try:
            raw = json.loads(message)
            return cls(raw["text"], raw.get("refused"))
        except (ValueError, KeyError, TypeError):
            return cls(message)
