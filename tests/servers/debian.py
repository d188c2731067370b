"""Debian packages the tests need (Ceph, Prometheus, Chromium), installed when missing and we
are root with apt-get, as on the CI's fresh machine; elsewhere the caller's error says what to
run."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence

#: apt-get's longest step, in seconds (Ceph's packages take minutes on a slow mirror).
INSTALL_TIMEOUT = 1800


def ensure_packages(
    packages: Sequence[str],
    present: Callable[[], bool],
    unavailable: Callable[[str], Exception],
    what: str,
) -> None:
    """Install ``packages`` unless ``present()``; raise ``unavailable(message)`` when that
    cannot be done here or ``what`` is still missing after."""
    if present():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise unavailable(
            f"{what} not found; as root on Debian run: "
            "apt-get install --no-install-recommends " + " ".join(packages)
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
    ):
        subprocess.run(
            command,
            check=True,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            timeout=INSTALL_TIMEOUT,
        )
    if not present():
        raise unavailable(f"apt-get finished but {what} is still missing")
