"""The outside world a run uses: its streams, its clock and whether it talks to a terminal.

Made once by ``cli.main`` (``Env.default()``) and handed down, so tests pass their own instead
of patching globals (compare httpie's ``Environment``). The core writes through it, never to
``sys.stdout``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TextIO

from rich.console import Console

#: The width of tables written to a file or a pipe: room for any key and upload id.
REDIRECTED_WIDTH = 4096


@dataclass
class Env:
    """The outside world the commands use: streams, clock, terminal checks. ``main()`` takes
    one, so tests pass their own instead of patching globals."""

    out: Console
    err: Console
    stdin: TextIO
    now: datetime
    stdin_is_terminal: bool
    stderr_is_terminal: bool

    @classmethod
    def default(cls) -> Env:
        """The process's own streams and clock."""
        return cls(
            out=Console(
                # Redirected, a table is never folded: a script reads each upload on one line,
                # whole ids and all (a table takes only the width it needs).
                soft_wrap=False,
                width=None if sys.stdout.isatty() else REDIRECTED_WIDTH,
                highlight=False,
            ),
            err=Console(stderr=True, highlight=False),
            stdin=sys.stdin,
            now=datetime.now(UTC),
            stdin_is_terminal=sys.stdin.isatty(),
            stderr_is_terminal=sys.stderr.isatty(),
        )

    def at(self, now: datetime | None) -> Env:
        """This environment with the clock set (``--now``), or as it is."""
        return self if now is None else replace(self, now=now)
