"""LocalStack's own S3 provider (its native "v3" S3, not moto) on 127.0.0.1, stopped by its PID.

LocalStack is installed in a virtual environment of its own, never in the project's: its pins
(cryptography, pyopenssl, cbor2, ...) would clash with the test dependencies. ``ensure_installed``
builds it on demand under the user's cache (``MPUSWEEP_LOCALSTACK_VENV`` overrides the place),
so a fresh clone on the same machine, CI's included, reuses it.

- ``localstack-core[runtime]==4.13.1`` is the newest release that runs on Python 3.11 (4.14 and
  2026.x declare >= 3.10 but need 3.13; on 3.11 they only say "No component plugins found").
- localstack-core has no ``localstack`` command: the runtime is ``localstack.runtime.main``,
  started here through ``localstack_launcher.py``, which keeps every socket on loopback (the
  default twisted gateway listens on 0.0.0.0 whatever ``GATEWAY_LISTEN`` says).
- The environment is built from scratch (nothing of the developer's AWS or LocalStack settings
  leaks in): S3 only, loaded eagerly, no persistence, no analytics events, no certificate
  download, no DNS server, every directory inside one temporary directory.
- Any access key and secret work (signatures are not checked).

Run it by hand with ``python -m tests.servers.localstack`` to get a server for manual trials.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .rgw import free_port

VERSION = "4.13.1"
REQUIREMENTS = (
    f"localstack-core[runtime]=={VERSION}",
    # Upper bounds that keep 4.13.1's dependencies at releases of its own time (taken from a
    # working install, not bisected); service-identity lets twisted check TLS names quietly.
    "cbor2<6",
    "pyopenssl<26",
    "cryptography<47",
    "service-identity",
)
ACCESS_KEY = "MPUSWEEPLOCALSTACK01"
SECRET_KEY = "mpusweep-localstack-test-secret-key-000001"
LAUNCHER = Path(__file__).with_name("localstack_launcher.py")
INSTALL_TIMEOUT = 900.0
START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
_COMPLETE = ".mpusweep-complete"
CATALOG_ROOT = "mpusweep-catalog"


class LocalStackUnavailable(RuntimeError):
    """LocalStack is not installed in its own environment and cannot be installed here."""


def venv_dir() -> Path:
    """Where LocalStack's own virtual environment lives (one per Python minor version)."""
    configured = os.environ.get("MPUSWEEP_LOCALSTACK_VENV")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    python = f"py{sys.version_info.major}.{sys.version_info.minor}"
    return cache / "mpusweep" / f"localstack-{VERSION}-{python}"


def ensure_installed() -> Path:
    """Return LocalStack's interpreter, creating its virtual environment first if needed.

    Under a file lock (another test run may be installing it too), in place; a marker file
    written last says the environment is complete, so an interrupted install is redone.

    Raises:
        LocalStackUnavailable: venv or pip failed or timed out (no registry, wrong Python...).
    """
    venv = venv_dir()
    python = venv / "bin" / "python"
    if (venv / _COMPLETE).is_file():
        return python
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
        lock = open(venv.parent / f".{venv.name}.lock", "w")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise LocalStackUnavailable(f"cannot create {venv.parent}: {exc}") from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / _COMPLETE).is_file():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        _install_step([sys.executable, "-m", "venv", str(venv)], 120)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        _install_step([*pip, *REQUIREMENTS], INSTALL_TIMEOUT)
        _install_step([str(python), "-I", "-c", "import localstack.runtime.main"], 120)
        _build_service_catalog(python)
        (venv / _COMPLETE).write_text(" ".join(REQUIREMENTS) + "\n")
    return python


def _install_step(
    argv: list[str], timeout: float, env: dict[str, str] | None = None, cwd: Path | None = None
) -> None:
    what = " ".join(argv)
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        failure = f"failed: {exc}"
    else:
        if done.returncode == 0:
            return
        failure = f"exited {done.returncode}:\n{done.stderr[-2000:]}"
    raise LocalStackUnavailable(
        f"cannot install LocalStack into {venv_dir()} (set MPUSWEEP_LOCALSTACK_VENV to move it; "
        f"pip needs PyPI): {what} {failure}"
    )


def server_env(root: Path, port: int = 0) -> dict[str, str]:
    """The whole environment of a LocalStack process (nothing inherited but PATH), with every
    directory it writes to inside ``root``."""
    names = ("HOME", "TMPDIR", "CONFIG_DIR", "FILESYSTEM_ROOT")
    dirs = {name: root / name.lower() for name in names}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        **{name: str(path) for name, path in dirs.items()},
        "SERVICES": "s3",
        "EAGER_SERVICE_LOADING": "1",  # s3 is ready when the health check says so
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "PERSISTENCE": "0",
        "DISABLE_EVENTS": "1",  # no analytics events to analytics.localstack.cloud
        "SKIP_SSL_CERT_DOWNLOAD": "1",  # no download of the localhost.localstack.cloud cert
        "DNS_ADDRESS": "0",  # no DNS server of its own (it would bind port 53)
        # This machine may itself be a container (/.dockerenv): LocalStack would then take
        # itself for its own Docker image, write to /var/lib/localstack and ping the Docker
        # bridge (172.17.0.1, 172.18.0.1) at import. It runs on the host here.
        "OVERRIDE_IN_DOCKER": "0",
        "DOCKER_BRIDGE_IP": "127.0.0.1",
    }


def _build_service_catalog(python: Path) -> None:
    """Build LocalStack's index of every AWS service spec once, as its Docker image does at
    build time (``python -m localstack.aws.spec`` writes it under FILESYSTEM_ROOT/usr/lib).
    Each server gets a copy: without it every start rebuilds it, 5 s and ~480 MB instead of
    ~1.5 s and ~140 MB."""
    root = python.parent.parent / CATALOG_ROOT
    shutil.rmtree(root, ignore_errors=True)
    (root / "filesystem_root" / "usr" / "lib" / "localstack").mkdir(parents=True)
    env = server_env(root)
    _install_step([str(python), "-I", "-m", "localstack.aws.spec"], 300, env=env, cwd=root)
    for scratch in ("home", "tmpdir", "config_dir"):
        shutil.rmtree(root / scratch, ignore_errors=True)


def _s3_state(port: int) -> str | None:
    """S3's state from ``GET /_localstack/health`` (``running`` when ready), None if no answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/_localstack/health")
        response = conn.getresponse()
        if response.status != 200:
            return None
        state = json.loads(response.read()).get("services", {}).get("s3")
        return str(state) if state else None
    except (OSError, ValueError):
        return None
    finally:
        conn.close()


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (its PID: it leads a session of its own), then
    SIGKILL what is left after ``STOP_TIMEOUT``. LocalStack shuts down in 2-5 s on SIGTERM."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # children that outlived the leader, or a hang
    proc.wait(timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def running_localstack(timeout: float = START_TIMEOUT) -> Iterator[str]:
    """Start LocalStack's S3 on a free port of 127.0.0.1, yield its endpoint URL, and always
    stop it (its process group, by PID) and remove its temporary directory.

    Raises:
        LocalStackUnavailable: it is not installed and cannot be.
        RuntimeError: it exited or did not become ready within ``timeout`` seconds.
    """
    python = ensure_installed()
    root = Path(tempfile.mkdtemp(prefix="mpusweep-localstack-"))
    port = free_port()
    log_path = root / "localstack.log"
    try:
        env = server_env(root, port)
        catalog = python.parent.parent / CATALOG_ROOT / "filesystem_root"
        if catalog.is_dir():
            shutil.copytree(catalog, env["FILESYSTEM_ROOT"], dirs_exist_ok=True)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                # -I: isolated, so the launcher's own directory (which holds this module,
                # named like the package) is not put on LocalStack's sys.path.
                [str(python), "-I", str(LAUNCHER)],
                env=env,
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + timeout
            while _s3_state(port) not in ("running", "available"):
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"LocalStack exited with {proc.returncode}:\n{_tail(log_path)}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"LocalStack's S3 was not ready within {timeout:.0f}s:\n{_tail(log_path)}"
                    )
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            _stop_group(proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _tail(path: Path, size: int = 3000) -> str:
    with contextlib.suppress(OSError):
        return path.read_bytes()[-size:].decode("utf-8", "replace")
    return "(no log)"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)  # stop the server on SIGTERM too
    with running_localstack() as url:
        print(f"LocalStack S3 at {url} key {ACCESS_KEY} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
