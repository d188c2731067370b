"""Several targets in one run, on the real servers at once: moto, Ceph RGW and an endpoint
that cannot be reached. Each has its own keys, by profile; the configuration holds none."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mpusweep.lock import EndpointLock, Holder
from tests.servers.proxy import recording_proxy
from tests.servers.rgw import free_port
from tests.support import (
    Backend,
    Buckets,
    assert_one_outcome_per_intent,
    clean_now,
    default_sigint,
    read_audit,
)

KIB = 1024


def toml_value(value: object) -> str:
    return json.dumps(value)  # JSON strings, numbers and lists of strings are valid TOML


class Setup:
    """A configuration file and a credentials file for the targets of one test."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.targets: dict[str, dict[str, object]] = {}
        self.profiles: dict[str, tuple[str, str]] = {}

    def target(self, name: str, backend: Backend | str, buckets: list[str], **more) -> None:
        endpoint = backend if isinstance(backend, str) else backend.endpoint_url
        if not isinstance(backend, str):
            self.profiles[backend.name] = (backend.access_key, backend.secret_key)
        profile = more.pop("profile", None) or (
            "moto" if isinstance(backend, str) else backend.name
        )
        self.targets[name] = {
            "endpoint_url": endpoint,
            "profile": profile,
            "region": "us-east-1",
            "buckets": buckets,
            **more,
        }

    @property
    def config(self) -> Path:
        lines = []
        for name, table in self.targets.items():
            clean = table.pop("clean", None)
            lines.append(f"[targets.{name}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
            if clean:
                lines.append(f"[targets.{name}.clean]")
                lines += [f"{key} = {toml_value(value)}" for key, value in clean.items()]
                table["clean"] = clean
        path = self.dir / "config.toml"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        return path

    def env(self) -> dict[str, str | None]:
        creds = self.dir / "credentials"
        creds.write_text(
            "".join(
                f"[{name}]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
                for name, (key, secret) in self.profiles.items()
            )
        )
        return {
            "AWS_SHARED_CREDENTIALS_FILE": str(creds),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_ACCESS_KEY_ID": None,
            "AWS_SECRET_ACCESS_KEY": None,
            "AWS_ENDPOINT_URL": None,
            "AWS_PROFILE": None,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def args(self) -> list[str]:
        return ["--config", str(self.config)]


def unreachable() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def metrics(path: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    samples = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


@pytest.fixture
def both(moto_backend, rgw_backend):
    made = {"moto": Buckets(moto_backend), "rgw": Buckets(rgw_backend)}
    yield made
    for buckets in made.values():
        buckets.cleanup()


@pytest.mark.rgw
def test_scan_runs_every_target_at_once_and_one_failing_does_not_stop_the_others(
    both, cli, tmp_path
):
    setup = Setup(tmp_path)
    on_moto, on_rgw = both["moto"].new(), both["rgw"].new()
    both["moto"].make_upload(on_moto, "m", [KIB])
    both["rgw"].make_upload(on_rgw, "r1", [2 * KIB])
    both["rgw"].make_upload(on_rgw, "r2", [KIB])
    setup.target("moto", both["moto"].backend, [on_moto])
    setup.target("rgw", both["rgw"].backend, [on_rgw])
    setup.target("down", unreachable(), ["anything"])
    env = setup.env()

    res = cli(["scan", "--all-targets", *setup.args(), "--format", "json"], env=env)
    assert res.code == 3, res.stderr  # two done, one not: partial
    doc = res.json()
    targets = {t["target"]: t for t in doc["targets"]}
    assert list(targets) == ["moto", "rgw", "down"]  # the file's order
    assert [(t["exit_code"], t["uploads"], t["size"]) for t in targets.values()] == [
        (0, 1, KIB),
        (0, 2, 3 * KIB),
        (6, 0, None),  # what an unreachable target holds is unknown
    ]
    assert targets["moto"]["endpoint"] == both["moto"].backend.endpoint_url
    assert sorted((u["target"], u["bucket"], u["key"]) for u in doc["uploads"]) == [
        ("moto", on_moto, "m"),
        ("rgw", on_rgw, "r1"),
        ("rgw", on_rgw, "r2"),
    ]
    assert {(b["target"], b["bucket"]) for b in doc["buckets"]} == {
        ("moto", on_moto),
        ("rgw", on_rgw),
        ("down", "anything"),
    }
    assert doc["total"]["uploads"] == 3
    assert "[down] error: bucket 'anything'" in res.stderr

    table = cli(["scan", "--all-targets", *setup.args()], env=env)
    out = table.stdout
    # Each target whole, in the file's order, then a line per target.
    positions = [
        out.index("=== Target: moto"),
        out.index(f"Bucket: {on_moto}"),
        out.index("=== Target: rgw"),
        out.index(f"Bucket: {on_rgw}"),
        out.index("=== Target: down"),
        out.index("Bucket: anything"),
        out.index("Targets:"),
    ]
    assert positions == sorted(positions)
    assert "  moto: 0.00GB (1 upload, 1024 bytes) in 1 bucket [exit 0]" in out
    assert "  down: ? (0 uploads, size unknown) in 1 bucket; 1 could not be listed [exit 6]" in out
    assert (
        "All targets: 0.00GB (3 uploads, 4096 bytes) in 3 buckets of 3 targets; "
        "1 could not be listed" in out
    )

    lines = cli(["scan", "--all-targets", *setup.args(), "--format", "jsonl"], env=env).jsonl()
    assert {(x["type"], x.get("target")) for x in lines if x["type"] != "total"} == {
        ("upload", "moto"),
        ("upload", "rgw"),
        ("bucket", "moto"),
        ("bucket", "rgw"),
        ("bucket", "down"),
        ("target", "moto"),
        ("target", "rgw"),
        ("target", "down"),
    }
    assert lines[-1]["type"] == "total" and lines[-1]["uploads"] == 3
    rows = list(
        csv.DictReader(
            io.StringIO(
                cli(["scan", "--all-targets", *setup.args(), "--format", "csv"], env=env).stdout
            )
        )
    )
    assert sorted((r["target"], r["key"]) for r in rows) == [
        ("moto", "m"),
        ("rgw", "r1"),
        ("rgw", "r2"),
    ]
    # One target alone: only its own.
    one = cli(["scan", "--target", "rgw", *setup.args(), "--format", "json"], env=env)
    assert one.code == 0
    assert [t["target"] for t in one.json()["targets"]] == ["rgw"]


@pytest.mark.rgw
def test_clean_all_targets_metrics_and_history_per_target(both, cli, tmp_path):
    setup = Setup(tmp_path)
    on_moto, on_rgw = both["moto"].new(), both["rgw"].new()
    both["moto"].make_many(on_moto, ["a", "b"], [KIB])
    both["rgw"].make_many(on_rgw, ["c", "d", "e"], [KIB])
    setup.target(
        "moto", both["moto"].backend, [on_moto], clean={"older_than": "0", "idle_for": "0"}
    )
    # RGW's uploads are seconds old: its policy keeps them unless the command line says 0.
    setup.target("rgw", both["rgw"].backend, [on_rgw], clean={"older_than": "7d", "max_aborts": 2})
    setup.target("down", unreachable(), ["anything"])
    env = setup.env()
    prom, history = tmp_path / "clean.prom", tmp_path / "history.sqlite3"
    common = [*setup.args(), "--metrics-file", str(prom), "--history", str(history)]
    common += ["--audit-log", str(tmp_path / "audit.jsonl")]

    res = cli(["clean", "--all-targets", "--yes", "--format", "json", *common], env=env)
    assert res.code == 3, res.stderr
    doc = res.json()
    targets = {t["target"]: t for t in doc["targets"]}
    assert targets["moto"]["summary"]["aborted"] == 2
    assert targets["rgw"]["summary"]["aborted"] == 0 and targets["rgw"]["summary"]["kept"] == 3
    assert targets["down"]["exit_code"] == 6
    assert both["moto"].listing(on_moto) == []
    assert len(both["rgw"].listing(on_rgw)) == 3

    # The command line's --older-than wins over the target's; its cap stays.
    res = cli(
        ["clean", "--target", "rgw", "--yes", "--older-than", "0", "--idle-for", "0", *common],
        env=env,
    )
    assert res.code == 3, res.stderr
    assert "stopped: the cap of 2 aborts was reached (--max-aborts 2)" in res.stderr
    assert len(both["rgw"].listing(on_rgw)) == 1

    samples = metrics(prom)
    # The second run covered rgw alone: moto's and down's series are gone from the file,
    # which describes that run. The first run's are in the history.
    assert samples[("mpusweep_clean_aborted_uploads", frozenset({("target", "rgw")}))] == 2
    assert (
        samples[("mpusweep_bucket_uploads", frozenset({("target", "rgw"), ("bucket", on_rgw)}))]
        == 1
    )
    with sqlite3.connect(history) as db:
        runs = db.execute(
            "SELECT target, success, aborted FROM runs ORDER BY finished_at, target"
        ).fetchall()
    assert sorted(runs[:3]) == [("down", 0, 0), ("moto", 1, 2), ("rgw", 1, 0)]
    assert runs[3] == ("rgw", 0, 2)
    audit = assert_one_outcome_per_intent(read_audit(tmp_path / "audit.jsonl"))
    assert sorted(audit.values()) == ["aborted"] * 4


@pytest.mark.rgw
def test_interactive_clean_asks_target_after_target(both, cli, tmp_path):
    setup = Setup(tmp_path)
    on_moto, on_rgw = both["moto"].new(), both["rgw"].new()
    both["moto"].make_upload(on_moto, "m", [KIB])
    kept = both["rgw"].make_upload(on_rgw, "r", [KIB])
    setup.target("moto", both["moto"].backend, [on_moto])
    setup.target("rgw", both["rgw"].backend, [on_rgw])
    res = cli(
        [
            "clean",
            "--all-targets",
            *setup.args(),
            "--older-than",
            "0",
            "--idle-for",
            "0",
            "--audit-log",
            str(tmp_path / "audit.jsonl"),
        ],
        env=setup.env(),
        input="y\nn\n",
    )
    assert res.code == 0, res.stderr
    assert res.stderr.count("Delete MPU data? (y/n)") == 2
    assert res.stdout.index("=== Target: moto") < res.stdout.index("MPU data deleted!")
    assert res.stdout.index("MPU data deleted!") < res.stdout.index("=== Target: rgw")
    assert both["moto"].listing(on_moto) == []
    assert both["rgw"].listing(on_rgw) == [("r", kept)]


@pytest.mark.rgw
def test_locked_targets_keep_their_metrics_and_the_others_run(both, cli, tmp_path):
    setup = Setup(tmp_path)
    on_moto, on_rgw = both["moto"].new(), both["rgw"].new()
    both["moto"].make_upload(on_moto, "m", [KIB])
    both["rgw"].make_upload(on_rgw, "r", [KIB])
    # Two targets on the same endpoint share its lock (and run one after the other).
    setup.target("moto-a", both["moto"].backend, [on_moto])
    setup.target("moto-b", both["moto"].backend, [on_moto])
    setup.target("rgw", both["rgw"].backend, [on_rgw])
    env = setup.env()
    prom = tmp_path / "m.prom"
    args = ["clean", "--all-targets", *setup.args(), "--dry-run", "--metrics-file", str(prom)]
    first = cli(args, env=env)
    assert first.code == 0, first.stderr
    before = metrics(prom)

    yes = [
        "--yes",
        "--older-than",
        "0",
        "--idle-for",
        "0",
        "--audit-log",
        str(tmp_path / "audit.jsonl"),
    ]
    args = ["clean", "--all-targets", *setup.args(), *yes, "--metrics-file", str(prom)]
    lock = EndpointLock(both["moto"].backend.endpoint_url)
    lock.acquire(Holder.this_process(["mpusweep", "clean"], datetime.now(UTC)))
    try:
        res = cli(args, env=env)
    finally:
        lock.release()
    assert res.code == 3, res.stderr  # rgw done, the moto targets not
    assert "[moto-a] mpusweep: target 'moto-a': another mpusweep run holds the lock" in res.stderr
    assert "[moto-b] mpusweep: target 'moto-b': another mpusweep run holds the lock" in res.stderr
    assert len(both["moto"].listing(on_moto)) == 1
    assert both["rgw"].listing(on_rgw) == []
    after = metrics(prom)
    for key, value in before.items():
        target = dict(key[1])["target"]
        if target.startswith("moto"):
            assert after[key] == value, key
    rgw_uploads = ("mpusweep_bucket_uploads", frozenset({("target", "rgw"), ("bucket", on_rgw)}))
    assert (before[rgw_uploads], after[rgw_uploads]) == (1, 0)

    # Every target locked: nothing is written at all.
    lock.acquire(Holder.this_process(["mpusweep", "clean"], datetime.now(UTC)))
    try:
        res = cli(
            ["clean", "--target", "moto-a", *setup.args(), *yes, "--metrics-file", str(prom)],
            env=env,
        )
    finally:
        lock.release()
    assert res.code == 75
    assert metrics(prom) == after


def test_targets_on_moto_and_an_unreachable_endpoint(moto_backend, cli, tmp_path):
    """The same on moto alone, for machines without RGW."""
    made = Buckets(moto_backend)
    try:
        bucket = made.new()
        made.make_upload(bucket, "k", [KIB])
        setup = Setup(tmp_path)
        setup.target("moto", moto_backend, [bucket])
        setup.target("down", unreachable(), ["anything"])
        res = cli(["scan", "--all-targets", *setup.args(), "--format", "json"], env=setup.env())
        assert res.code == 3
        assert [(t["target"], t["exit_code"]) for t in res.json()["targets"]] == [
            ("moto", 0),
            ("down", 6),
        ]
        assert cli(["scan", "--target", "moto", *setup.args()], env=setup.env()).code == 0
        assert cli(["scan", "--target", "down", *setup.args()], env=setup.env()).code == 6
    finally:
        made.cleanup()


def test_a_target_without_credentials_fails_alone(moto_backend, cli, tmp_path):
    made = Buckets(moto_backend)
    try:
        bucket = made.new()
        setup = Setup(tmp_path)
        setup.target("moto", moto_backend, [bucket])
        setup.target("nokeys", moto_backend, [bucket], profile="absent")
        res = cli(["scan", "--all-targets", *setup.args(), "--format", "json"], env=setup.env())
        assert res.code == 3
        assert [(t["target"], t["exit_code"]) for t in res.json()["targets"]] == [
            ("moto", 0),
            ("nokeys", 5),
        ]
        assert "target 'nokeys': profile 'absent' not found" in res.stderr
    finally:
        made.cleanup()


# -- the configuration file -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "args", "needle"),
    [
        (
            '[targets.a]\nendpoint_url = "http://127.0.0.1:9"\n'
            'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n',
            ["--all-targets"],
            "looks like a credential; credentials never belong in this file",
        ),
        ('[targets.a]\nendpoint_url = "http://127.0.0.1:9"\n', ["--target", "b"], "no target 'b'"),
        ("", ["--all-targets"], "no targets in"),
        ('[targets.a]\nendpoint_url = "http://127.0.0.1:9"\n', [], "--config names targets"),
        (
            '[targets.a]\nendpoint_url = "http://127.0.0.1:9"\n',
            ["--target", "a", "--endpoint-url", "http://x"],
            "--endpoint-url cannot be combined with --target",
        ),
        (
            '[targets.a]\nendpoint_url = "http://127.0.0.1:9"\n',
            ["--target", "a", "--all-targets"],
            "not both",
        ),
        (
            '[targets.a]\nprovider = "minio"\n',
            ["--target", "a"],
            "target 'a': --provider minio needs --endpoint-url",
        ),
        ('[targets.a]\nprovider = "nosuch"\n', ["--target", "a"], "target 'a': unknown provider"),
    ],
)
def test_configuration_mistakes_are_one_line_and_exit_2(cli, tmp_path, text, args, needle):
    config = tmp_path / "config.toml"
    config.write_text(text)
    config.chmod(0o600)
    res = cli(["scan", "--config", str(config), *args], env={"AWS_ACCESS_KEY_ID": "x"})
    assert res.code == 2, res.stderr
    assert needle in res.stderr
    assert "wJalrXUtnFEMI" not in res.stderr
    assert "Traceback" not in res.stderr


def test_a_config_others_can_read_is_used_with_a_warning(moto_backend, cli, tmp_path):
    made = Buckets(moto_backend)
    try:
        setup = Setup(tmp_path)
        setup.target("moto", moto_backend, [made.new()])
        config = setup.config
        config.chmod(0o644)
        res = cli(["scan", "--all-targets", "--config", str(config)], env=setup.env())
        assert res.code == 0, res.stderr
        assert f"warning: {config} can be read by other users (mode 0644)" in res.stderr
    finally:
        made.cleanup()


def test_the_default_configuration_file(moto_backend, cli, tmp_path):
    made = Buckets(moto_backend)
    try:
        setup = Setup(tmp_path)
        setup.target("moto", moto_backend, [made.new()])
        default = Path(os.environ["XDG_CONFIG_HOME"]) / "mpusweep" / "config.toml"
        default.parent.mkdir(parents=True)
        default.write_text(setup.config.read_text())
        default.chmod(0o600)
        res = cli(["scan", "--all-targets", "--format", "json"], env=setup.env())
        assert res.code == 0, res.stderr
        assert [t["target"] for t in res.json()["targets"]] == ["moto"]
    finally:
        made.cleanup()


# -- Ctrl-C with targets running at once ------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_stops_every_target_and_every_abort_is_recorded(moto_backend, tmp_path, sig, code):
    made = Buckets(moto_backend)
    first, second = made.new("a"), made.new("b")
    made.make_many(first, [f"k/{i:04d}" for i in range(600)])
    made.make_many(second, [f"k/{i:04d}" for i in range(600)])
    audit = tmp_path / "audit.jsonl"

    def slow_deletes(method, path, headers):
        if method == "DELETE":
            time.sleep(0.02)
        return

    try:
        # Two proxies: two endpoints, so the targets run at once (one lock each).
        with (
            recording_proxy(moto_backend.endpoint_url) as one,
            recording_proxy(moto_backend.endpoint_url) as two,
        ):
            one.fault = two.fault = slow_deletes
            setup = Setup(tmp_path)
            setup.target("one", one.url, [first], profile="moto")
            setup.target("two", two.url, [second], profile="moto")
            setup.profiles["moto"] = (moto_backend.access_key, moto_backend.secret_key)
            env = {k: v for k, v in {**os.environ, **setup.env()}.items() if v is not None}
            with (tmp_path / "out").open("wb") as out, (tmp_path / "err").open("wb") as err:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "mpusweep",
                        "clean",
                        "--all-targets",
                        *setup.args(),
                        "--yes",
                        "--older-than",
                        "0",
                        "--idle-for",
                        "0",
                        "--no-sizes",
                        "--concurrency",
                        "4",
                        "--audit-log",
                        str(audit),
                    ],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    preexec_fn=default_sigint,
                )
                try:
                    deadline = time.monotonic() + 120
                    while True:
                        buckets_seen = {
                            r["bucket"]
                            for r in read_audit(audit, still_writing=True)
                            if r["event"] == "outcome"
                        }
                        if (
                            buckets_seen == {first, second}
                            and len(read_audit(audit, still_writing=True)) > 100
                        ):
                            break
                        assert proc.poll() is None, (tmp_path / "err").read_text()
                        assert time.monotonic() < deadline, "no aborts happened"
                        time.sleep(0.05)
                    proc.send_signal(sig)
                    proc.wait(timeout=60)  # bounded: a run that does not stop fails here
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
        stdout, stderr = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
        assert proc.returncode == code, stderr
        assert stdout.count("Summary: aborted") == 3  # each target, then all of them
        assert "=== All targets" in stdout
        records = read_audit(audit)
        outcomes = assert_one_outcome_per_intent(records)
        for bucket in (first, second):
            remaining = len(made.listing(bucket))
            aborted = sum(
                1 for r in records if r["bucket"] == bucket and r.get("outcome") == "aborted"
            )
            assert 0 < remaining < 600
            assert remaining == 600 - aborted
        assert set(outcomes.values()) <= {"aborted", "unknown"}
    finally:
        made.cleanup()


def test_a_target_assumes_its_role_with_the_profiles_keys(moto_backend, cli, tmp_path):
    made = Buckets(moto_backend)
    role = "arn:aws:iam::123456789012:role/mpusweep"
    try:
        bucket = made.new()
        made.make_upload(bucket, "k", [KIB])
        with recording_proxy(moto_backend.endpoint_url) as proxy:
            setup = Setup(tmp_path)
            setup.target("moto", proxy.url, [bucket], role_arn=role)
            setup.profiles["moto"] = (moto_backend.access_key, moto_backend.secret_key)
            # STS is moto's too (botocore reads the service's own endpoint variable).
            env = {**setup.env(), "AWS_ENDPOINT_URL_STS": proxy.url}
            res = cli(["scan", "--all-targets", *setup.args(), "--format", "json"], env=env)
            seen = list(proxy.seen)
            debug = cli(["scan", "--all-targets", *setup.args(), "--debug"], env=env)
        assert res.code == 0, res.stderr
        # The role's keys are in STS's answer, which --debug logs: masked.
        assert debug.code == 0
        assert "<SecretAccessKey><redacted></SecretAccessKey>" in debug.stderr
        assert re.findall(r"<(SecretAccessKey|SessionToken)>(?!<redacted>)", debug.stderr) == []
        assert res.json()["total"]["uploads"] == 1
        (assume,) = [s for s in seen if b"Action=AssumeRole" in s.body]
        assert b"RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fmpusweep" in assume.body
        assert f"Credential={moto_backend.access_key}/" in assume.headers["Authorization"]
        s3_calls = [s for s in seen if s is not assume]
        assert s3_calls
        for call in s3_calls:
            credential = call.headers["Authorization"].split("Credential=")[1].split("/")[0]
            assert credential != moto_backend.access_key  # the role's temporary key
            assert "X-Amz-Security-Token" in call.headers or (
                "x-amz-security-token" in {h.lower() for h in call.headers}
            )
    finally:
        made.cleanup()


def test_lifecycle_status_on_targets(moto_backend, cli, tmp_path):
    made = Buckets(moto_backend)
    try:
        bucket = made.new()
        setup = Setup(tmp_path)
        setup.target("moto", moto_backend, [bucket])
        setup.target("down", unreachable(), ["anything"])
        args = ["lifecycle", "status", "--all-targets", *setup.args()]
        res = cli([*args, "--format", "json"], env=setup.env())
        assert res.code == 3, res.stderr
        doc = res.json()
        first = doc["buckets"][0]
        assert (first["target"], first["bucket"], first["error"]) == ("moto", bucket, None)
        assert [(t["target"], t["exit_code"]) for t in doc["targets"]] == [
            ("moto", 0),
            ("down", 3),  # its bucket's lifecycle could not be read
        ]
        table = cli(args, env=setup.env())
        assert table.stdout.index("=== Target: moto") < table.stdout.index("=== Target: down")
    finally:
        made.cleanup()


def test_a_clean_without_a_state_directory_fails_that_target_only(
    moto_backend, cli, tmp_path, monkeypatch
):
    made = Buckets(moto_backend)
    try:
        bucket = made.new()
        made.make_upload(bucket, "k", [KIB])
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("")
        monkeypatch.setenv("XDG_STATE_HOME", str(blocker))  # locks cannot be made under it
        res = cli(
            [
                *clean_now(bucket),
                "--no-history",
                "--audit-log",
                str(tmp_path / "audit.jsonl"),
            ],
            env=moto_backend.env(),
        )
        assert res.code == 2, res.stderr
        assert "cannot open lock file" in res.stderr
        assert "set XDG_STATE_HOME to a writable directory" in res.stderr
        assert len(made.listing(bucket)) == 1
    finally:
        made.cleanup()


def test_report_over_targets_names_each_bucket_with_its_target(moto_backend, cli, tmp_path):
    """One page for every target: a bucket two targets both see is two rows (target:bucket),
    every figure is scan's, a target that could not connect is said on the page and in the
    exit code, and nothing but the page is written."""
    pytest.importorskip("plotly")
    from tests.unit.test_report_html import Page

    made = Buckets(moto_backend)
    try:
        shared, other = made.new("shared"), made.new("other")
        made.make_upload(shared, "k1", [KIB])
        made.make_upload(shared, "k2", [2 * KIB])
        made.make_upload(other, "k3", [3 * KIB])
        setup = Setup(tmp_path)
        setup.target("a", moto_backend, [shared])
        setup.target("b", moto_backend, [shared, other])
        setup.target("nokeys", moto_backend, [shared], profile="absent")
        output = tmp_path / "page.html"
        res = cli(["report", "--all-targets", *setup.args(), "-o", str(output)], env=setup.env())
        scanned = cli(["scan", "--all-targets", *setup.args(), "--format", "json"], env=setup.env())
        assert res.code == scanned.code == 3, res.stderr  # two targets done, one not
        assert res.stdout == ""
        assert "target 'nokeys': profile 'absent' not found" in res.stderr
        text = output.read_text(encoding="utf-8")
        page = Page(text)
        alone = tmp_path / "alone.html"
        failed = cli(
            ["report", "--target", "nokeys", *setup.args(), "-o", str(alone)], env=setup.env()
        )
    finally:
        made.cleanup()
    doc = scanned.json()
    rows = [r for r in page.rows() if "data-bucket" in r and set(r) <= {"data-bucket", "class"}]
    assert sorted(r["data-bucket"] for r in rows) == sorted(
        f"{b['target']}:{b['bucket']}" for b in doc["buckets"]
    )
    assert sorted(r["data-bucket"] for r in rows) == sorted(
        [f"a:{shared}", f"b:{shared}", f"b:{other}"]
    )
    assert page.value("total_uploads") == doc["total"]["uploads"] == 5
    assert page.value("total_bytes") == doc["total"]["size"] == 9 * KIB
    assert re.findall(r'data-target="([^"]*)"', text) == ["a", "b", "nokeys"]
    assert re.findall(r'data-failed-target="([^"]*)"', text) == ["nokeys"]
    endpoint = re.escape(moto_backend.endpoint_url)
    assert re.search(rf"<strong>nokeys</strong> \({endpoint}\): not scanned: profile", text)
    assert "Target nokeys was not scanned" in text
    # No target scanned, no page: it would say that nothing was found.
    assert failed.code == 5, failed.stderr
    assert "profile 'absent' not found" in failed.stderr
    assert not alone.exists()


@pytest.mark.rgw
def test_doctor_checks_each_target_in_turn_with_its_own_buckets(both, cli, tmp_path):
    setup = Setup(tmp_path)
    on_moto, on_rgw = both["moto"].new(), both["rgw"].new()
    setup.target("moto", both["moto"].backend, [on_moto])
    setup.target("rgw", both["rgw"].backend, [on_rgw])
    setup.target("down", unreachable(), ["anything"])
    env = setup.env()

    text = cli(["doctor", "--target", "moto", "--target", "rgw", *setup.args()], env=env)
    assert text.code == 0, text.stdout + text.stderr
    out = text.stdout
    assert out.index("=== Target: moto") < out.index(f"bucket {on_moto}")
    assert out.index(f"bucket {on_moto}") < out.index("=== Target: rgw")
    assert out.index("=== Target: rgw") < out.index(f"bucket {on_rgw}")
    assert f"bucket {on_rgw}" not in out[: out.index("=== Target: rgw")]

    res = cli(["doctor", "--all-targets", *setup.args(), "--format", "json"], env=env)
    assert res.code == 7, res.stderr  # the unreachable target's checks fail; the others ran
    targets = {t["target"]: t for t in res.json()["targets"]}
    assert list(targets) == ["moto", "rgw", "down"]
    # The fields the README lists for a target's entry.
    assert list(targets["moto"]) == ["target", "account_name", "setup", "checks", "failed"]
    for name, bucket in (("moto", on_moto), ("rgw", on_rgw)):
        assert targets[name]["setup"]["endpoint_url"] == both[name].backend.endpoint_url
        assert {c["bucket"] for c in targets[name]["checks"]} == {None, bucket}
        assert targets[name]["failed"] == 0, targets[name]["checks"]
    assert targets["down"]["failed"] > 0
