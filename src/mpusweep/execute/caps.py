"""The caps of a clean run (``Caps``: ``--max-aborts``, ``--max-bytes``): which confirmed
uploads still fit, in listing order, and a SKIPPED outcome with the reason for the others.

Pure: nothing here talks to the service.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..models import AbortOutcome, Outcome, Upload
from ..settings import Caps

#: The start of the reason of an outcome a cap held back (``held_by_cap``).
CAP_HELD = "not sent: held back by a cap"


def held_by_cap(outcome: AbortOutcome) -> bool:
    """Whether this upload was not aborted because a cap (``Caps``) held it back."""
    return outcome.outcome is Outcome.SKIPPED and (outcome.error or "").startswith(CAP_HELD)


class Budget:
    """What is left of the caps as aborts are handed out, in listing order."""

    def __init__(self, caps: Caps) -> None:
        self.caps = caps
        self.aborts = 0
        self.bytes = 0
        #: Why the run stopped, once a cap is reached.
        self.reached: str | None = None
        #: Uploads held back because their size is unknown under ``max_bytes``.
        self.unsized = 0

    def take(self, uploads: Iterable[Upload]) -> tuple[list[Upload], list[AbortOutcome]]:
        """The uploads that fit, and a SKIPPED outcome (with the reason) for the others."""
        allowed: list[Upload] = []
        held: list[AbortOutcome] = []
        caps = self.caps
        max_bytes = caps.max_bytes
        for upload in uploads:
            if self.reached is None:
                if caps.max_aborts is not None and self.aborts >= caps.max_aborts:
                    self.reached = f"the cap of {caps.max_aborts} aborts was reached"
                elif max_bytes is not None and upload.size is None:
                    self.unsized += 1
                    why = f"{CAP_HELD}: its size is unknown, so the cap on bytes cannot count it"
                    held.append(AbortOutcome(upload, Outcome.SKIPPED, 0, why))
                    continue
                elif (
                    caps.max_bytes is not None and self.bytes + (upload.size or 0) > caps.max_bytes
                ):
                    self.reached = f"the cap of {caps.max_bytes} bytes was reached"
            if self.reached is not None:
                held.append(AbortOutcome(upload, Outcome.SKIPPED, 0, f"{CAP_HELD}: {self.reached}"))
                continue
            self.aborts += 1
            self.bytes += upload.size or 0
            allowed.append(upload)
        return allowed, held
