"""The history keeps services apart: two endpoints, or two sets of keys on one endpoint, that
have a bucket of the same name are two series in ``mpusweep history`` and in the report's
trend, never one that grows by the other's uploads. On real moto servers."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mpusweep.lock import endpoint_key
from tests.servers.moto import running_moto
from tests.support import KIB, Backend, Buckets, cli_now

MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def second_moto(moto_backend: Backend) -> Iterator[Backend]:
    """Another moto server: another service, with the same keys (this module's tests share it;
    each makes buckets of its own)."""
    with running_moto() as url:
        yield Backend("moto", url, moto_backend.access_key, moto_backend.secret_key)


@pytest.fixture
def same_name(moto_backend: Backend, second_moto: Backend) -> Iterator[tuple[Buckets, Buckets]]:
    """Bucket factories on the two servers that make buckets of the same names."""
    first, second = Buckets(moto_backend), Buckets(second_moto)
    second.prefix = first.prefix
    yield first, second
    first.cleanup()
    second.cleanup()


def scan(cli: Any, backend: Backend, bucket: str, history: Path, at: datetime, **env: str) -> None:
    res = cli(
        ["scan", bucket, "--history", str(history), "--now", cli_now(at)],
        env={**backend.env(), **env},
    )
    assert res.code == 0, res.stderr


def shown(cli: Any, history: Path, at: datetime, *args: str) -> Any:
    res = cli(["history", "--history", str(history), "--now", cli_now(at), *args])
    assert res.code == 0, res.stderr
    return res


def test_two_endpoints_with_a_bucket_of_the_same_name_are_two_series(
    moto_backend, second_moto, same_name, cli, tmp_path
):
    first, second = same_name
    bucket = first.new("same")
    assert second.new("same") == bucket
    first.make_upload(bucket, "a", [KIB])
    for key in ("b", "c", "d"):
        second.make_upload(bucket, key, [2 * KIB])
    history = tmp_path / "history.sqlite3"
    at = datetime.now(UTC).replace(microsecond=0)
    scan(cli, moto_backend, bucket, history, at)
    scan(cli, second_moto, bucket, history, at + MINUTE)

    doc = shown(cli, history, at + MINUTE, "--format", "json").json()
    trends = sorted(doc["buckets"], key=lambda t: t["uploads"])
    assert [(t["target"], t["bucket"]) for t in trends] == [("default", bucket)] * 2
    # Each service's own figures, each seen once: no change across the two.
    assert [(t["uploads"], t["size"], t["observations"]) for t in trends] == [
        (1, KIB, 1),
        (3, 6 * KIB, 1),
    ]
    for trend in trends:
        assert trend["since_previous"] == {"uploads": None, "size": None}
        assert trend["change"]["size"]["delta"] == 0
    assert [t["endpoint"] for t in trends] == [
        endpoint_key(moto_backend.endpoint_url),
        endpoint_key(second_moto.endpoint_url),
    ]

    table = shown(cli, history, at + MINUTE).stdout
    assert "+" not in table, table  # no growth anywhere
    assert "no earlier run" in table
    for backend in (moto_backend, second_moto):
        assert f"default @ {endpoint_key(backend.endpoint_url)}" in table.replace("\n", ""), table

    rows = shown(cli, history, at + MINUTE, "--format", "csv").stdout.splitlines()
    assert len([r for r in rows if r.startswith(f"default,{bucket},")]) == 2


def test_two_keys_on_one_endpoint_are_two_series_and_no_key_is_recorded(
    moto_backend, cli, tmp_path
):
    made = Buckets(moto_backend)
    try:
        bucket = made.new()
        made.make_upload(bucket, "a", [KIB])
        history = tmp_path / "history.sqlite3"
        at = datetime.now(UTC).replace(microsecond=0)
        # moto answers every key with the same account's buckets: as if two users of one
        # service looked, one of them after two more uploads were left behind.
        keys = ("AKIAFIRSTUSER0000001", "AKIASECONDUSER000002")
        scan(cli, moto_backend, bucket, history, at, AWS_ACCESS_KEY_ID=keys[0])
        made.make_upload(bucket, "b", [KIB])
        made.make_upload(bucket, "c", [KIB])
        scan(cli, moto_backend, bucket, history, at + MINUTE, AWS_ACCESS_KEY_ID=keys[1])
    finally:
        made.cleanup()

    doc = shown(cli, history, at + MINUTE, "--format", "json").json()
    trends = sorted(doc["buckets"], key=lambda t: t["uploads"])
    assert [(t["uploads"], t["observations"]) for t in trends] == [(1, 1), (3, 1)]
    fingerprints = [f"key:{hashlib.sha256(k.encode()).hexdigest()[:12]}" for k in keys]
    assert [t["identity"] for t in trends] == fingerprints
    assert all(t["since_previous"]["size"] is None for t in trends)
    table = shown(cli, history, at + MINUTE).stdout.replace("\n", "")
    assert fingerprints[0] in table
    assert fingerprints[1] in table
    assert "+2 uploads" not in table

    # The key itself is nowhere in the file, only its fingerprint.
    with sqlite3.connect(history) as db:
        dump = "\n".join(db.iterdump())
    assert not any(k in dump for k in keys)
    assert all(f in dump for f in fingerprints)


def test_the_report_trend_keeps_to_the_scanned_service(
    moto_backend, second_moto, same_name, cli, tmp_path
):
    pytest.importorskip("plotly")
    from tests.unit.test_report_html import Page

    first, second = same_name
    bucket = first.new("same")
    assert second.new("same") == bucket
    first.make_upload(bucket, "a", [KIB])
    second.make_upload(bucket, "b", [5 * KIB])
    history = tmp_path / "history.sqlite3"
    at = datetime.now(UTC).replace(microsecond=0)
    scan(cli, moto_backend, bucket, history, at)
    scan(cli, second_moto, bucket, history, at + MINUTE)
    first.make_upload(bucket, "c", [2 * KIB])

    output = tmp_path / "r.html"
    args = ["report", bucket, "--history", str(history), "--now", cli_now(at + 2 * MINUTE)]
    res = cli([*args, "-o", str(output)], env=moto_backend.env())
    assert res.code == 0, res.stderr
    figures = json.loads(Page(output.read_text(encoding="utf-8")).scripts[0])
    traces = {t["name"]: t for t in figures["chart-trend"]["data"]}
    scale = figures["chart-trend"]["layout"]["meta"]["bytes_per_unit"]
    # The first server's past scan and this one; the other server's 5 KiB is not a point.
    assert [round(y * scale) for y in traces["all buckets"]["y"]] == [KIB, 3 * KIB]
    assert [round(y * scale) for y in traces[bucket]["y"]] == [KIB, 3 * KIB]


def test_the_metrics_name_the_service_each_target_read(moto_backend, second_moto, cli, tmp_path):
    """``mpusweep_target_info`` says which endpoint and whose view each file's series come
    from, with the key's fingerprint, never the key."""
    from prometheus_client.parser import text_string_to_metric_families

    infos = []
    for backend in (moto_backend, second_moto):
        path = tmp_path / f"{endpoint_key(backend.endpoint_url).split(':')[-1]}.prom"
        made = Buckets(backend)
        args = ["scan", made.new(), "--no-history", "--metrics-file", str(path)]
        res = cli(args, env=backend.env())
        made.cleanup()
        assert res.code == 0, res.stderr
        text = path.read_text()
        assert backend.access_key not in text and backend.secret_key not in text
        (info,) = [
            s.labels
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "mpusweep_target_info"
        ]
        infos.append(info)
    fingerprint = hashlib.sha256(moto_backend.access_key.encode()).hexdigest()[:12]
    assert infos == [
        {
            "target": "default",
            "endpoint": endpoint_key(backend.endpoint_url),
            "identity": f"key:{fingerprint}",
        }
        for backend in (moto_backend, second_moto)
    ]
