"""Run mpusweep's CLI in this process and write what the MAIN process alone used.

    python -m benchmarks.mainproc OUT.json scan synth-00 --endpoint-url URL --format jsonl

``OUT.json`` gets ``{"cpu": s, "wall": s, "code": n}``: ``cpu`` is this process's own CPU time
(``time.process_time()``: sizing workers it forks are other processes and are not counted) from
just before the command runs to its end, so imports are left out and the clients' set-up, the
listing, the coordination of the workers and the output are in. Nothing is started here before
the command (no thread), so the command may fork its workers as it would from ``mpusweep``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    out, argv = Path(sys.argv[1]), sys.argv[2:]
    import botocore.session  # noqa: F401 - imported before the clock starts

    from mpusweep import cli

    code: object = 0
    cpu, wall = time.process_time(), time.monotonic()
    try:
        cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    finally:
        figures = {"cpu": time.process_time() - cpu, "wall": time.monotonic() - wall}
        out.write_text(json.dumps({**figures, "code": code}))


if __name__ == "__main__":
    main()
