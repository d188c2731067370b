"""A throw-away single-node Ceph cluster with a RADOS Gateway on 127.0.0.1.

One ceph-mon, one memstore (RAM) ceph-osd, no mgr, ``auth ... = none``, radosgw with the beast
frontend. Everything lives in a temporary directory and every process is stopped by its PID.
The settings that matter (docs/compatibility.md): ``ms mon client mode = crc`` (the default
``secure`` cannot work with auth none), ``tcp_nodelay=1`` (else ~40 ms per response with a body),
fast paxos timings (cold start 13 s -> 3 s), pool size one.

Run it by hand with ``python -m tests.servers.rgw`` to get a server for manual trials.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .debian import ensure_packages

PACKAGES = ("ceph-mon", "ceph-osd", "radosgw")
BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph")
ACCESS_KEY = "MPUSWEEPRGWTESTKEY01"
SECRET_KEY = "mpusweep-rgw-test-secret-key-000000000001"
START_TIMEOUT = 60.0


class RgwUnavailable(RuntimeError):
    """The Ceph packages are missing and cannot be installed here."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binaries_present() -> bool:
    return all(shutil.which(name) for name in BINARIES)


def ensure_installed() -> None:
    """Install the Debian packages when they are missing and we are root; else raise."""
    ensure_packages(PACKAGES, binaries_present, RgwUnavailable, "Ceph RGW binaries")


@dataclass
class RgwCluster:
    """A running cluster; ``endpoint_url`` and the keys are what a client needs."""

    root: Path
    mon_port: int
    rgw_port: int
    lc_debug_interval: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.rgw_port}"

    @property
    def conf(self) -> Path:
        return self.root / "ceph.conf"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        self._write_conf()
        self._make_mon()
        self._spawn("mon", ["ceph-mon", "-c", str(self.conf), "-i", "a", "-f"])
        self._ceph("osd", "create", timeout=max(1.0, deadline - time.monotonic()))
        (self.root / "osd" / "ceph-0").mkdir(parents=True, exist_ok=True)
        self._run(["ceph-osd", "-c", str(self.conf), "-i", "0", "--mkfs"])
        self._spawn("osd", ["ceph-osd", "-c", str(self.conf), "-i", "0", "-f"])
        self._spawn("rgw", ["radosgw", "-c", str(self.conf), "-n", "client.rgw", "-f"])
        self._wait_http(deadline)
        self.create_user("mpusweep", ACCESS_KEY, SECRET_KEY)

    def stop(self) -> None:
        for name in ("rgw", "osd", "mon"):
            proc = self.processes.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def create_user(self, uid: str, access_key: str, secret_key: str) -> None:
        self._run(
            [
                "radosgw-admin",
                "-c",
                str(self.conf),
                "-n",
                "client.rgw",
                "user",
                "create",
                f"--uid={uid}",
                f"--display-name={uid}",
                f"--access-key={access_key}",
                f"--secret-key={secret_key}",
            ]
        )

    # -- helpers ---------------------------------------------------------------------------
    def _write_conf(self) -> None:
        for sub in ("mon", "osd", "run", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        fsid = uuid.uuid4()
        r = self.root
        self.conf.write_text(
            f"""[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:{self.mon_port}]
mon initial members = a
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
ms mon client mode = crc
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd objectstore = memstore
memstore device bytes = 2147483648
osd data = {r}/osd/$cluster-$id
osd crush chooseleaf type = 0
mon data = {r}/mon/$cluster-$id
run dir = {r}/run
admin socket = {r}/run/$name.asok
log file = {r}/log/$name.log
pid file = {r}/run/$name.pid
keyring = {r}/keyring
paxos propose interval = 0.05
paxos min wait = 0.01
mon osd down out interval = 0
debug ms = 0
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:{self.rgw_port} tcp_nodelay=1
rgw lc debug interval = {self.lc_debug_interval}
rgw dns name = 127.0.0.1
rgw enable usage log = false
"""
        )

    def _make_mon(self) -> None:
        monmap = self.root / "monmap"
        self._run(
            [
                "monmaptool",
                "--create",
                "--clobber",
                "--fsid",
                self._fsid(),
                "--addv",
                "a",
                f"[v2:127.0.0.1:{self.mon_port}]",
                str(monmap),
            ]
        )
        self._run(["ceph-mon", "-c", str(self.conf), "--mkfs", "-i", "a", "--monmap", str(monmap)])

    def _fsid(self) -> str:
        for line in self.conf.read_text().splitlines():
            if line.startswith("fsid = "):
                return line.split(" = ", 1)[1]
        raise AssertionError("no fsid in ceph.conf")

    def _spawn(self, name: str, argv: list[str]) -> None:
        with open(self.root / "log" / f"{name}.stdout", "wb") as log:
            self.processes[name] = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _run(self, argv: list[str], timeout: float = 60) -> str:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}"
            )
        return done.stdout

    def _ceph(self, *args: str, timeout: float = 30) -> str:
        return self._run(
            ["ceph", "-c", str(self.conf), "--connect-timeout", str(int(timeout)), *args],
            timeout=timeout + 5,
        )

    def _wait_http(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.root}/log")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.rgw_port), timeout=1) as sock,
            ):
                sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
                if sock.recv(12).startswith(b"HTTP/1."):
                    return
            time.sleep(0.1)
        raise RuntimeError(
            f"radosgw did not answer within {START_TIMEOUT:.0f}s; see {self.root}/log"
        )


@contextlib.contextmanager
def running_rgw(lc_debug_interval: int = 10) -> Iterator[RgwCluster]:
    """Start a cluster, yield it, and always stop it (its processes by PID, its files)."""
    ensure_installed()
    root = Path(tempfile.mkdtemp(prefix="mpusweep-rgw-"))
    cluster = RgwCluster(root, free_port(), free_port(), lc_debug_interval)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)  # stop the cluster on SIGTERM too
    with running_rgw() as rgw:
        print(f"RGW at {rgw.endpoint_url} key {ACCESS_KEY} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
