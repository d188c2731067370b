"""Fixtures: real S3 servers on 127.0.0.1 (moto's server and a throw-away Ceph RGW), fresh
buckets per test, an upload factory, and a CLI runner that goes through ``main()``.

The RGW tests are skipped with a message when Ceph cannot be installed here; with
``MPUSWEEP_REQUIRE_RGW=1`` (as .ci/run sets) that is an error instead. The same goes for
LocalStack's own S3 (``MPUSWEEP_REQUIRE_LOCALSTACK=1``) and Prometheus
(``MPUSWEEP_REQUIRE_PROMETHEUS=1``). The helpers the fixtures
build on live in tests/support.py.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers import localstack as localstack_server
from tests.servers import prometheus as prometheus_server
from tests.servers import rgw as rgw_server
from tests.servers.moto import running_moto
from tests.support import MOTO_KEYS, Backend, Buckets, run_cli


def pytest_sessionstart(session: pytest.Session) -> None:
    """SIGTERM (CI's time limit, a killed job) unwinds like Ctrl-C, so the fixtures' cleanup
    still stops every server process the tests started."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


@pytest.fixture(autouse=True)
def private_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every test gets its own state and configuration directories: runs record history and
    take locks under XDG_STATE_HOME, and read targets from XDG_CONFIG_HOME; never the real
    ones of whoever runs the tests. Child processes inherit them."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    return home


@pytest.fixture(scope="session")
def moto_backend() -> Iterator[Backend]:
    with running_moto() as url:
        yield Backend("moto", url, *MOTO_KEYS)


@pytest.fixture(scope="session")
def rgw_cluster() -> Iterator[rgw_server.RgwCluster]:
    try:
        rgw_server.ensure_installed()
    except rgw_server.RgwUnavailable as exc:
        if os.environ.get("MPUSWEEP_REQUIRE_RGW") == "1":
            pytest.fail(f"RGW required (MPUSWEEP_REQUIRE_RGW=1) but unavailable: {exc}")
        pytest.skip(f"{exc} (or run as root on Debian to let the tests install it)")
    with rgw_server.running_rgw(lc_debug_interval=10) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def rgw_backend(rgw_cluster: rgw_server.RgwCluster) -> Backend:
    return Backend("rgw", rgw_cluster.endpoint_url, rgw_server.ACCESS_KEY, rgw_server.SECRET_KEY)


@pytest.fixture(scope="session")
def localstack_backend() -> Iterator[Backend]:
    """LocalStack's own S3 (not moto), installed into an environment of its own on demand."""
    try:
        localstack_server.ensure_installed()
    except localstack_server.LocalStackUnavailable as exc:
        if os.environ.get("MPUSWEEP_REQUIRE_LOCALSTACK") == "1":
            pytest.fail(
                f"LocalStack required (MPUSWEEP_REQUIRE_LOCALSTACK=1) but unavailable: {exc}"
            )
        pytest.skip(str(exc))
    with localstack_server.running_localstack() as url:
        yield Backend("localstack", url, localstack_server.ACCESS_KEY, localstack_server.SECRET_KEY)


@pytest.fixture(scope="session")
def prometheus_installed() -> None:
    """Debian's Prometheus (``prometheus``, ``promtool``), installed as root when missing."""
    try:
        prometheus_server.ensure_installed()
    except prometheus_server.PrometheusUnavailable as exc:
        if os.environ.get("MPUSWEEP_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(
                f"Prometheus required (MPUSWEEP_REQUIRE_PROMETHEUS=1) but unavailable: {exc}"
            )
        pytest.skip(f"{exc} (or run as root on Debian to let the tests install it)")


@pytest.fixture(
    params=[
        "moto",
        pytest.param("rgw", marks=pytest.mark.rgw),
        pytest.param("localstack", marks=pytest.mark.localstack),
    ]
)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each integration test runs on every real server: moto, Ceph RGW and LocalStack's S3."""
    backend: Backend = request.getfixturevalue(f"{request.param}_backend")
    return backend


@pytest.fixture
def buckets(backend: Backend) -> Iterator[Buckets]:
    made = Buckets(backend)
    yield made
    made.cleanup()


@pytest.fixture
def cli() -> Any:
    return run_cli
