"""Other providers' quirks, emulated in front of the real servers, and LocalStack's own.

Each test puts the emulating proxy (tests/servers/emulate.py) between mpusweep and moto, Ceph
RGW or LocalStack: the real server answers, and the proxy rewrites the answer the way that
provider does, or refuses the way it refuses. Each shows the outcome mpusweep must reach: exact
lists and totals, exactly the right aborts, a clear message where something cannot work.
docs/compatibility.md lists them by provider.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mpusweep.audit import AuditLog
from mpusweep.execute import CleanHooks, Writes, clean
from mpusweep.filters import AgeFilter, Selection
from mpusweep.lifecycle_run import apply_abort_rule
from mpusweep.models import Outcome, ScanResult, Verify
from mpusweep.s3 import S3Reader, S3Writer, quirks
from mpusweep.scan import scan
from mpusweep.settings import CleanPolicy, ScanSettings
from tests.servers import localstack as localstack_server
from tests.servers.emulate import DIRECTORY_SUFFIX, GCS_EXTRA_MICROSECONDS, Request, emulating
from tests.servers.proxy import Reply, recording_proxy
from tests.support import (
    Backend,
    Buckets,
    assert_one_outcome_per_intent,
    clean_now,
    conn_for,
    read_audit,
)


def via(proxy, backend, *, kind=S3Reader, conn=None, **kwargs):
    """A reader (or writer) that goes through the proxy."""
    return kind(conn_for(backend, endpoint_url=proxy.url, **(conn or {})), **kwargs)


def proxy_env(backend, proxy) -> dict[str, str]:
    return {**backend.env(), "AWS_ENDPOINT_URL": proxy.url}


def clean_all(s3, names, tmp_path, **kwargs):
    """Clean every listed upload of these buckets, now; returns (result, audit records)."""
    audit_path = tmp_path / f"audit-{uuid.uuid4().hex[:6]}.jsonl"
    with AuditLog(audit_path, endpoint=s3.endpoint_url) as audit:
        result = clean(
            s3,
            Writes(s3, audit),
            Selection(buckets=tuple(names)),
            now=kwargs.pop("now", datetime.now(UTC)),
            hooks=CleanHooks(lambda *_: True),
            scan=ScanSettings(kwargs.pop("age", AgeFilter())),
            policy=CleanPolicy(verify=kwargs.pop("verify", Verify.AUTO)),
        )
    assert not kwargs, kwargs
    return result, read_audit(audit_path)


def outcomes_by_key(result) -> dict[str, str]:
    return {o.upload.key: o.outcome.value for b in result.buckets for o in b.outcomes}


def lifecycle_rules(buckets, bucket) -> list[dict]:
    """The bucket's rules as the real server stores them ([] without a configuration)."""
    try:
        return buckets.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except buckets.s3.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
        return []


# -- MinIO ---------------------------------------------------------------------------------------


def make_tree(buckets, bucket) -> dict[str, int]:
    """Uploads under dir/, one named exactly "dir/", and some outside it: key -> size."""
    sizes = {"dir/a": 1, "dir/b/c": 2, "dir/": 3, "dir": 4, "dirt": 5, "other/x": 6}
    for key, size in sizes.items():
        buckets.make_upload(bucket, key, [size])
    return sizes


def test_minio_directory_prefix_finds_every_upload_under_it_and_says_so(buckets, backend, cli):
    """MinIO treats the listing prefix as an exact key (minio#20989): detected by its Server
    header, the bucket is listed whole and filtered here, and the output says so."""
    bucket = buckets.new()
    make_tree(buckets, bucket)
    with emulating(backend, "minio") as proxy:
        env = proxy_env(backend, proxy)
        doc = cli(["scan", bucket, "--prefix", "dir/", "--format", "json"], env=env).json()
        table = cli(["scan", bucket, "--prefix", "dir/", "--prefix", "other/"], env=env)
        assert proxy.emulator.used.get("prefix is an exact key")
    assert sorted(u["key"] for u in doc["uploads"]) == ["dir/", "dir/a", "dir/b/c"]
    assert doc["total"]["size"] == 6
    (summary,) = doc["buckets"]
    assert any("exact key (MinIO)" in note for note in summary["notes"])
    assert table.code == 0, table.stderr
    assert "listed the whole bucket and kept the keys under 'dir/'" in table.stdout
    assert "Total: 0.00GB (4 uploads, 12 bytes)" in table.stdout


def test_minio_named_is_listed_whole_from_the_start(buckets, backend, tmp_path):
    """With the quirk declared (``--provider minio``), no prefix is ever sent; a clean with a
    prefix aborts exactly the uploads under it."""
    bucket = buckets.new()
    sizes = make_tree(buckets, bucket)
    named = {"quirks": frozenset({quirks.PREFIX_EXACT_KEY}), "provider": "minio"}
    with emulating(backend, "minio") as proxy:
        s3 = via(proxy, backend, kind=S3Writer, conn=named)
        with AuditLog(tmp_path / "a.jsonl", endpoint=proxy.url) as audit:
            result = clean(
                s3,
                Writes(s3, audit),
                Selection(buckets=(bucket,), prefixes=("dir/b", "dir/a")),
                now=datetime.now(UTC),
                hooks=CleanHooks(lambda *_: True),
            )
        listings = [s.path for s in proxy.seen if "uploads" in s.path and s.method == "GET"]
    assert outcomes_by_key(result) == {"dir/a": "aborted", "dir/b/c": "aborted"}
    assert listings and not any("prefix=" in path for path in listings)
    assert sorted(k for k, _ in buckets.listing(bucket)) == sorted(
        k for k in sizes if k not in ("dir/a", "dir/b/c")
    )


def listing_queries(proxy) -> list[dict[str, str]]:
    """The query of every ListMultipartUploads request the proxy saw, in order."""
    requests = [Request(s.method, s.path, s.headers, s.body) for s in proxy.seen]
    return [r.query for r in requests if r.op == "ListMultipartUploads"]


def test_exact_key_prefix_behind_a_proxy_is_not_believed_empty(buckets, backend, cli):
    """MinIO behind nginx: the prefix is an exact key, and no ``Server`` header names the
    service. The prefixed listing finds nothing under dir/ but the upload named "dir/" itself;
    one unprefixed page shows uploads under dir/, so the bucket is listed whole and filtered
    here, and the output says so: scan and a dry-run clean find all three."""
    bucket = buckets.new()
    make_tree(buckets, bucket)
    with emulating(backend, "minio-behind-proxy") as proxy:
        env = proxy_env(backend, proxy)
        doc = cli(["scan", bucket, "--prefix", "dir/", "--format", "json"], env=env)
        args = [
            "clean",
            bucket,
            "--prefix",
            "dir/",
            "--dry-run",
            "--older-than",
            "0",
            "--idle-for",
            "0",
        ]
        dry = cli(args, env=env)
        dry_doc = cli([*args, "--format", "json"], env=env)
        assert proxy.emulator.used.get("prefix is an exact key")
    assert doc.code == 0, doc.stderr
    found = doc.json()
    assert sorted(u["key"] for u in found["uploads"]) == ["dir/", "dir/a", "dir/b/c"]
    assert found["total"]["size"] == 6
    (summary,) = found["buckets"]
    assert any("exact key" in note for note in summary["notes"]), summary["notes"]
    assert dry.code == 0, dry.stderr
    assert "would abort 3 uploads" in dry.stdout
    assert "listed the whole bucket and kept the keys under 'dir/'" in dry.stdout
    (planned,) = dry_doc.json()["buckets"]
    assert sorted(u["key"] for u in planned["uploads"]) == ["dir/", "dir/a", "dir/b/c"]
    assert len(buckets.listing(bucket)) == 6  # a dry run


def test_exact_key_prefix_found_once_is_listed_whole_for_later_buckets(buckets, backend):
    """Once an empty prefixed listing has been disproved, the service is known to treat the
    prefix as an exact key (as a recognised MinIO): the next bucket is listed whole at once."""
    first, second = buckets.new("a"), buckets.new("b")
    for bucket in (first, second):
        buckets.make_many(bucket, ["dir/a", "dir/b/c", "other/x"], [1])
    with emulating(backend, "minio-behind-proxy") as proxy:
        s3 = via(proxy, backend)
        notes: list[str] = []
        keys = sorted(u.key for u in s3.iter_uploads(first, "dir/", note=notes.append))
        proved = listing_queries(proxy)
        proxy.clear()
        later = sorted(u.key for u in s3.iter_uploads(second, "dir/", note=notes.append))
        sent = listing_queries(proxy)
    assert keys == later == ["dir/a", "dir/b/c"]
    assert s3.transport.has_quirk(quirks.PREFIX_EXACT_KEY)
    assert [q.get("prefix") for q in proved][:2] == ["dir/", None]
    assert sent and not any("prefix" in q for q in sent)
    assert len(notes) == 2 and all("exact key" in note for note in notes), notes


@pytest.mark.parametrize(
    ("keys", "extra"),
    [
        (["other/x"], 1),  # nothing under dir/: one unprefixed page proves it
        (["dir/", "other/x"], 1),  # only the key "dir/" itself: proved the same way
        (["dir/a", "dir/", "other/x"], 0),  # a key under dir/: believed at once
    ],
)
def test_prefix_listing_costs_one_more_request_only_when_it_finds_nothing_under_it(
    buckets, backend, cli, keys, extra
):
    """On a service that honours the prefix, an empty prefixed listing costs exactly one more
    ListMultipartUploads request (no prefix, from the key marker "dir/", a small page), and the
    answer is still right, with no note; a listing that finds keys under the prefix costs none."""
    bucket = buckets.new()
    buckets.make_many(bucket, keys, [1])
    with recording_proxy(backend.endpoint_url) as proxy:
        env = {**backend.env(), "AWS_ENDPOINT_URL": proxy.url}
        res = cli(["scan", bucket, "--prefix", "dir/", "--format", "json"], env=env)
        sent = listing_queries(proxy)
    assert res.code == 0, res.stderr
    doc = res.json()
    assert sorted(u["key"] for u in doc["uploads"]) == sorted(
        k for k in keys if k.startswith("dir/")
    )
    assert doc["buckets"][0]["notes"] == []
    assert [q.get("prefix") for q in sent] == ["dir/"] + [None] * extra
    for probe in sent[1:]:
        assert probe["key-marker"] == "dir/"
        assert int(probe["max-uploads"]) <= 20


def test_a_page_that_cannot_confirm_an_empty_prefix_listing_lists_the_bucket_whole(
    buckets, backend
):
    """Pages of two: the prefixed listing finds only the key "dir/" itself, and the one
    unprefixed page from the key marker "dir/" may be truncated before the keys under dir/
    end (RGW's key marker includes that key's own uploads). Then nothing is proved either way:
    the bucket is listed whole, saying so, nothing is counted twice, and the service is not
    taken for one that treats the prefix as an exact key."""
    bucket = buckets.new()
    ids = buckets.make_many(bucket, ["dir/", "dir/", "dir/"], [1])
    buckets.make_upload(bucket, "other/x", [1])
    with recording_proxy(backend.endpoint_url) as proxy:
        s3 = via(proxy, backend, page_size=2)
        notes: list[str] = []
        found = [u.upload_id for u in s3.iter_uploads(bucket, "dir/", note=notes.append)]
        sent = listing_queries(proxy)
    assert sorted(found) == sorted(ids)
    assert not s3.transport.has_quirk(quirks.PREFIX_EXACT_KEY)
    at = next(i for i, q in enumerate(sent) if "prefix" not in q)  # moto sends one page
    assert all(q["prefix"] == "dir/" for q in sent[:at])
    assert sent[at]["key-marker"] == "dir/"  # the probe
    if backend.name == "rgw":  # the probe's page holds two of the three "dir/" uploads
        assert notes == [
            "the service listed no key under 'dir/' but itself, and one page of the whole "
            "bucket could not confirm it: listed the whole bucket and kept the keys under 'dir/'"
        ]
        assert len(sent) > at + 1 and all("prefix" not in q for q in sent[at:])
    else:  # moto ignores the marker (one whole page), LocalStack starts after "dir/"
        assert notes == [] and len(sent) == at + 1


@pytest.mark.parametrize(
    ("provider", "words"),
    [
        ("minio", "accepted the rule but does not keep it"),
        ("rustfs", "changed the rule on the way in"),
    ],
)
def test_lifecycle_abort_dropped_on_the_way_in_is_reported_per_bucket(
    buckets, backend, cli, provider, words
):
    """MinIO drops the abort action of an accepted rule (minio#19115), RustFS also its prefix
    (rustfs#7456): the read-back says so for each bucket, and the exit code is 3."""
    first, second = buckets.new("a"), buckets.new("b")
    with emulating(backend, provider) as proxy:
        res = cli(
            ["lifecycle", "apply", first, second, "--days", "3", "--prefix", "tmp/", "--yes"],
            env=proxy_env(backend, proxy),
        )
    assert res.code == 3, res.stdout + res.stderr
    assert res.stdout.count(f"Failed: the service {words}") == 2, res.stdout


def test_minio_lifecycle_status_and_doctor_point_to_its_stale_upload_setting(buckets, backend, cli):
    """MinIO never runs AbortIncompleteMultipartUpload rules (minio#16120, by design): where
    it answers as MinIO, ``lifecycle status`` (table once, JSON per bucket) and ``doctor``
    point to the server's own setting that expires stale uploads, with its documentation."""
    first, second = buckets.new("a"), buckets.new("b")
    setting = "api stale_uploads_expiry="
    with emulating(backend, "minio") as proxy:
        env = proxy_env(backend, proxy)
        table = cli(["lifecycle", "status", first, second], env=env)
        doc = cli(["lifecycle", "status", first, second, "--format", "json"], env=env).json()
        doctor = cli(["doctor", first, "--format", "json"], env=env).json()
    assert table.code == 0, table.stderr
    text = " ".join(table.stdout.split())
    assert text.count(setting) == 1, table.stdout  # one note for both buckets
    assert "MINIO_API_STALE_UPLOADS_EXPIRY" in text
    assert "min.io/docs/minio" in text
    for record in doc["buckets"]:
        assert any(setting in note for note in record["notes"]), record
    (stale,) = [c for c in doctor["checks"] if c["check"] == "stale uploads"]
    assert "abort rules do nothing" in stale["detail"]
    assert setting in stale["fix"] and "MINIO_API_STALE_UPLOADS_CLEANUP_INTERVAL" in stale["fix"]


def test_not_minio_no_stale_upload_note(buckets, backend, cli):
    bucket = buckets.new()
    doc = cli(["lifecycle", "status", bucket, "--format", "json"], env=backend.env()).json()
    doctor = cli(["doctor", bucket, "--format", "json"], env=backend.env()).json()
    assert doc["buckets"][0]["notes"] == []
    assert "stale uploads" not in {c["check"] for c in doctor["checks"]}


# -- SeaweedFS -----------------------------------------------------------------------------------


def test_seaweedfs_upload_without_initiated_is_listed_and_kept(buckets, backend, cli, tmp_path):
    """Older SeaweedFS lists uploads without <Initiated> (seaweedfs#11301): such an upload is
    listed with an unknown age and kept by an age filter, with the reason; the rest of the
    bucket is cleaned as usual."""
    bucket = buckets.new()
    buckets.make_upload(bucket, "undated/1", [2])
    buckets.make_upload(bucket, "dated/1", [3])
    later = datetime.now(UTC) + timedelta(days=2)
    options = {"without_initiated": lambda key: key.startswith("undated/")}
    with emulating(backend, "seaweedfs", **options) as proxy:
        env = proxy_env(backend, proxy)
        args = ["--now", later.isoformat()]
        doc = cli(["scan", bucket, "--format", "json", *args], env=env).json()
        table = cli(["scan", bucket, *args], env=env)
        audit = str(tmp_path / "a.jsonl")
        done = cli(
            [
                "clean",
                bucket,
                "--yes",
                "--older-than",
                "1d",
                "--idle-for",
                "0",
                "--format",
                "json",
                "--audit-log",
                audit,
                *args,
            ],
            env=env,
        )
    uploads = {u["key"]: u for u in doc["uploads"]}
    assert uploads["undated/1"]["initiated"] is None
    assert uploads["undated/1"]["age_seconds"] is None
    assert uploads["undated/1"]["size"] == 2
    assert uploads["dated/1"]["age_seconds"] >= 2 * 86400 - 60
    assert table.code == 0, table.stderr
    assert re.search(r"\n\s*\?\s+undated/1 ", table.stdout), table.stdout  # Initiated: unknown
    assert done.code == 0, done.stderr
    (entry,) = done.json()["buckets"]
    decided = {u["key"]: (u["action"], u["reason"], u["outcome"]) for u in entry["uploads"]}
    assert decided["undated/1"] == (
        "keep",
        "initiation time unknown (the service did not send it)",
        None,
    )
    assert decided["dated/1"][::2] == ("abort", "aborted")
    assert [k for k, _ in buckets.listing(bucket)] == ["undated/1"]


def test_seaweedfs_empty_list_parts_is_not_proof_during_verification(buckets, backend, tmp_path):
    """SeaweedFS answers ListParts of a gone upload with 200 and no parts (seaweedfs#11081):
    the abort's 204 stands; no second abort, no failure."""
    bucket = buckets.new()
    buckets.make_many(bucket, ["a", "b", "c"], [1])
    with emulating(backend, "seaweedfs") as proxy:
        s3 = via(proxy, backend, kind=S3Writer)
        result, records = clean_all(s3, [bucket], tmp_path, verify=Verify.ALWAYS)
        assert proxy.emulator.used.get("empty ListParts when gone") == 3
        deletes = [s for s in proxy.seen if s.method == "DELETE"]
    assert outcomes_by_key(result) == dict.fromkeys("abc", "aborted")
    assert [o.attempts for b in result.buckets for o in b.outcomes] == [1, 1, 1]
    assert len(deletes) == 3
    assert set(assert_one_outcome_per_intent(records).values()) == {"aborted"}
    assert buckets.listing(bucket) == []


# -- Storj gateway, Scality / Riak CS / lakeFS, GCS -----------------------------------------------


def make_keyed(buckets, bucket, prefix: str = "") -> dict[tuple[str, str], int]:
    """Keys with one, two and three uploads each (upload id -> size), to page across."""
    made = {}
    for i, key in enumerate(["a", "b", "b", "c", "d", "d", "d", "e", "f", "f"]):
        size = i + 1
        made[(prefix + key, buckets.make_upload(bucket, prefix + key, [size]))] = size
    return made


def test_storj_listing_is_exact(buckets, backend, tmp_path):
    """The Storj gateway ignores the prefix and MaxUploads and sends no NextUploadIdMarker
    (storj/edge#207): every upload under the prefix is listed, sized and aborted once."""
    bucket = buckets.new()
    wanted = make_keyed(buckets, bucket, prefix="p/")
    outside = make_keyed(buckets, bucket, prefix="q/")
    with emulating(backend, "storj", page_size=5) as proxy:
        s3 = via(proxy, backend, kind=S3Writer, page_size=2)  # asks 2, gets 5
        selection = Selection(buckets=(bucket,), prefixes=("p/",))
        found = scan(s3, selection, now=datetime.now(UTC))
        assert {(u.key, u.upload_id): u.size for u in found.uploads} == wanted
        assert found.size == sum(wanted.values())
        with AuditLog(tmp_path / "a.jsonl", endpoint=proxy.url) as audit:
            done = clean(
                s3,
                Writes(s3, audit),
                selection,
                now=datetime.now(UTC),
                hooks=CleanHooks(lambda *_: True),
            )
        assert proxy.emulator.used.get("Storj listing", 0) >= 6
    records = read_audit(tmp_path / "a.jsonl")
    assert set(assert_one_outcome_per_intent(records)) == {upload_id for _, upload_id in wanted}
    assert done.summary.aborted == len(wanted)
    assert sorted(buckets.listing(bucket)) == sorted(outside)


def test_repeated_last_upload_is_counted_sized_and_aborted_once(buckets, backend, tmp_path):
    """Scality cloudserver, Riak CS and lakeFS repeat the last upload of a page at the top of
    the next (backbeat#247, riak_cs#463)."""
    bucket = buckets.new()
    made = make_keyed(buckets, bucket)
    with emulating(backend, "scality") as proxy:
        s3 = via(proxy, backend, kind=S3Writer, page_size=3)
        found = scan(s3, Selection(buckets=(bucket,)), now=datetime.now(UTC))
        assert [u.upload_id for u in found.uploads].count(found.uploads[2].upload_id) == 1
        assert {(u.key, u.upload_id): u.size for u in found.uploads} == made
        assert found.buckets[0].uploads == len(made)
        assert found.size == sum(made.values())
        result, records = clean_all(s3, [bucket], tmp_path)
    assert sorted(assert_one_outcome_per_intent(records)) == sorted(u for _, u in made)
    assert result.summary.aborted == len(made)
    assert buckets.listing(bucket) == []


def test_gcs_listing_is_exact(buckets, backend, tmp_path):
    """Google Cloud Storage refuses an empty upload-id-marker, sends no Owner or Initiator
    and microsecond times: exact results, the microseconds kept."""
    bucket = buckets.new()
    made = make_keyed(buckets, bucket)
    with emulating(backend, "gcs") as proxy:
        s3 = via(proxy, backend, kind=S3Writer, page_size=3)
        found = scan(s3, Selection(buckets=(bucket,)), now=datetime.now(UTC))
        result, records = clean_all(s3, [bucket], tmp_path)
        markers = [s.path for s in proxy.seen if "upload-id-marker" in s.path]
        assert proxy.emulator.used.get("GCS listing shape")
    assert {(u.key, u.upload_id): u.size for u in found.uploads} == made
    assert all(u.initiated.microsecond % 1000 == GCS_EXTRA_MICROSECONDS for u in found.uploads)
    assert markers and not any(re.search(r"upload-id-marker=(&|$)", p) for p in markers)
    assert sorted(assert_one_outcome_per_intent(records)) == sorted(u for _, u in made)
    assert result.summary.aborted == len(made)


# -- Checksum headers (B2, R2, Spaces, OVH, Wasabi) ---------------------------------------------


def test_no_request_carries_checksum_headers(buckets, backend, cli, tmp_path):
    """B2, R2, DigitalOcean Spaces, OVH and Wasabi refuse botocore 1.36+'s checksum headers
    with 400: scan, clean (verifying every abort), lifecycle apply, status and remove all go
    through a proxy that refuses them."""
    bucket = buckets.new()
    buckets.make_many(bucket, ["a", "b"], [1])
    with emulating(backend, "checksum-refusing") as proxy:
        env = proxy_env(backend, proxy)
        runs = [
            cli(["scan", bucket], env=env),
            cli(["lifecycle", "apply", bucket, "--days", "2", "--yes"], env=env),
            cli(["lifecycle", "status", bucket], env=env),
            cli(
                [
                    *clean_now(bucket),
                    "--verify",
                    "always",
                    "--audit-log",
                    str(tmp_path / "a.jsonl"),
                ],
                env=env,
            ),
            cli(["lifecycle", "remove", bucket, "--yes"], env=env),
        ]
        refused = proxy.emulator.used.get("checksum headers refused", 0)
        sent = [name for s in proxy.seen for name in s.headers if "checksum" in name.lower()]
    assert [r.code for r in runs] == [0] * 5, [r.stdout + r.stderr for r in runs]
    assert refused == 0 and sent == []
    assert {s.method for s in proxy.seen} >= {"GET", "PUT", "DELETE"}
    assert buckets.listing(bucket) == []
    assert lifecycle_rules(buckets, bucket) == []


# -- Backblaze B2, Cloudflare R2: lifecycle -------------------------------------------------------


def test_b2_apply_neither_loops_nor_duplicates(buckets, backend, cli):
    """B2 gives every rule back under an ID of its own: apply says what the service keeps,
    applying again changes nothing, and a new --days replaces the rule instead of adding one."""
    bucket = buckets.new()
    with emulating(backend, "b2") as proxy:
        env = proxy_env(backend, proxy)
        first = cli(["lifecycle", "apply", bucket, "--days", "7", "--yes"], env=env)
        puts_after_first = len(proxy.writes())
        again = cli(["lifecycle", "apply", bucket, "--days", "7", "--yes"], env=env)
        puts_after_again = len(proxy.writes())
        changed = cli(["lifecycle", "apply", bucket, "--days", "3", "--yes"], env=env)
        status = cli(["lifecycle", "status", bucket, "--format", "json"], env=env).json()
    assert first.code == 0, first.stdout
    assert "keeps the rule under its own ID 'b2-AbortIncompleteMultipartUpload-all'" in first.stdout
    assert again.code == 0, again.stdout
    assert "Already in place" in again.stdout
    assert puts_after_again == puts_after_first == 1
    assert changed.code == 0, changed.stdout
    (entry,) = status["buckets"]
    assert [(r["prefix"], r["days"]) for r in entry["abort_rules"]] == [("", 3)]


def test_b2_named_updates_its_rule_in_place(buckets, backend):
    """With the quirk declared (``--provider b2``), the rule B2 keeps for our prefix is ours:
    a new --days updates it where it is."""
    bucket = buckets.new()
    named = {"quirks": frozenset({quirks.LIFECYCLE_REWRITES_RULES}), "provider": "b2"}
    with emulating(backend, "b2") as proxy:
        s3 = via(proxy, backend, kind=S3Writer, conn=named)
        first = apply_abort_rule(s3, bucket, 7, "logs/", writer=s3, confirm=lambda _: True)
        second = apply_abort_rule(s3, bucket, 2, "logs/", writer=s3, confirm=lambda _: True)
        third = apply_abort_rule(s3, bucket, 2, "logs/", writer=s3, confirm=lambda _: True)
        assert len(proxy.writes()) == 2
    assert (first.result, second.result, third.result) == ("applied", "applied", "unchanged")
    assert (
        second.before is not None
        and second.before["ID"] == "b2-AbortIncompleteMultipartUpload-logs/"
    )
    stored = lifecycle_rules(buckets, bucket)
    assert [(r["ID"], r["AbortIncompleteMultipartUpload"]) for r in stored] == [
        ("b2-AbortIncompleteMultipartUpload-logs/", {"DaysAfterInitiation": 2})
    ]


def test_r2_default_rule_is_coverage_and_is_kept(buckets, backend, cli):
    """Every R2 bucket has a "Default Multipart Abort Rule" (7 days): status and scan show the
    bucket as covered, apply with the same days leaves it alone, other days keep it beside
    ours, remove leaves it."""
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [1])
    with emulating(backend, "r2") as proxy:
        env = proxy_env(backend, proxy)
        status = cli(["lifecycle", "status", bucket, "--format", "json"], env=env).json()
        scanned = cli(["scan", bucket, "--format", "json"], env=env).json()
        table = cli(["scan", bucket], env=env).stdout
        same = cli(["lifecycle", "apply", bucket, "--days", "7", "--yes"], env=env)
        writes_after_same = len(proxy.writes())
        other = cli(["lifecycle", "apply", bucket, "--days", "3", "--yes"], env=env)
        after_apply = [r["ID"] for r in lifecycle_rules(buckets, bucket)]
        removed = cli(["lifecycle", "remove", bucket, "--yes"], env=env)
    (entry,) = status["buckets"]
    assert [(r["id"], r["prefix"], r["days"]) for r in entry["abort_rules"]] == [
        ("Default Multipart Abort Rule", "", 7)
    ]
    assert scanned["buckets"][0]["abort_rules"] == [{"prefix": "", "days": 7}]
    assert "Lifecycle aborts incomplete uploads after 7d" in table
    assert same.code == 0 and "Already in place" in same.stdout, same.stdout
    assert "Default Multipart Abort Rule" in same.stdout
    assert writes_after_same == 0
    assert other.code == 0, other.stdout
    assert after_apply == ["Default Multipart Abort Rule", "mpusweep-abort-incomplete-mpu"]
    assert removed.code == 0, removed.stdout
    assert [r["ID"] for r in lifecycle_rules(buckets, bucket)] == ["Default Multipart Abort Rule"]


# -- AWS -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["301", "400", "400-header"])
def test_buckets_in_other_regions_are_scanned_and_cleaned(buckets, backend, tmp_path, style):
    """AWS answers a bucket in another region with 301 PermanentRedirect or 400
    AuthorizationHeaderMalformed naming its region; behind an endpoint URL too, each such
    bucket gets a client signing for its region, and every bucket is scanned and cleaned."""
    home, away = buckets.new("home"), buckets.new("away")
    made = {buckets.make_upload(home, "h", [1]), buckets.make_upload(away, "w", [2])}
    with emulating(backend, "aws-regions", regions={away: "eu-west-1"}, style=style) as proxy:
        s3 = via(proxy, backend, kind=S3Writer)
        found = scan(s3, Selection(buckets=(home, away)), now=datetime.now(UTC))
        result, records = clean_all(s3, [home, away], tmp_path)
        regions = {
            (s.path.lstrip("/").split("/")[0].split("?")[0], m.group(1))
            for s in proxy.seen
            if s.status < 300
            and (m := re.search(r"/\d{8}/([^/]+)/s3/", s.headers.get("Authorization", "")))
        }
        assert proxy.emulator.used.get("bucket regions")
    assert [b.error for b in found.buckets] == [None, None]
    assert {u.upload_id for u in found.uploads} == made
    assert found.size == 3
    assert set(assert_one_outcome_per_intent(records).values()) == {"aborted"}
    assert result.summary.aborted == 2
    assert (away, "eu-west-1") in regions and (away, "us-east-1") not in regions
    assert (home, "us-east-1") in regions
    assert buckets.listing(home) == buckets.listing(away) == []


def test_parts_surviving_an_abort_are_found_and_aborted_again(buckets, backend, tmp_path):
    """AWS: an abort may answer 204 while parts in flight remain. Verification lists the parts
    and aborts again; a bounded number of times, then the upload is reported as failed."""
    bucket = buckets.new()
    buckets.make_upload(bucket, "once", [1])
    with emulating(backend, "aws-parts-in-flight", times=1) as proxy:
        s3 = via(proxy, backend, kind=S3Writer)
        result, _ = clean_all(s3, [bucket], tmp_path, verify=Verify.ALWAYS)
    ((outcome,),) = [b.outcomes for b in result.buckets]
    assert (outcome.outcome, outcome.attempts) == (Outcome.ABORTED, 2)
    assert buckets.listing(bucket) == []

    stubborn = buckets.make_upload(bucket, "stubborn", [1])
    with emulating(backend, "aws-parts-in-flight", times=10) as proxy:
        s3 = via(proxy, backend, kind=S3Writer)
        result, records = clean_all(s3, [bucket], tmp_path, verify=Verify.ALWAYS)
        deletes = sum(1 for s in proxy.seen if s.method == "DELETE")
    ((outcome,),) = [b.outcomes for b in result.buckets]
    assert (outcome.outcome, outcome.attempts) == (Outcome.FAILED, 3)
    assert outcome.error == "parts of the upload still exist after 3 aborts"
    assert deletes == 3
    assert assert_one_outcome_per_intent(records) == {stubborn: "failed"}
    assert buckets.listing(bucket) == [("stubborn", stubborn)]


THEIR_TAGGED_EXPIRATION = {
    "ID": "theirs-tagged",
    "Status": "Enabled",
    "Filter": {"Tag": {"Key": "tier", "Value": "tmp"}},
    "Expiration": {"Days": 30},
}


def test_our_abort_rule_is_prefix_only_and_theirs_are_kept(buckets, backend, cli):
    """AWS refuses AbortIncompleteMultipartUpload beside a tag or size filter (InvalidRequest):
    ours is always prefix-only, and their tag-filtered rule is kept exactly."""
    bucket = buckets.new()
    buckets.s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [THEIR_TAGGED_EXPIRATION]}
    )
    before = lifecycle_rules(buckets, bucket)
    with emulating(backend, "aws-lifecycle") as proxy:
        env = proxy_env(backend, proxy)
        res = cli(
            ["lifecycle", "apply", bucket, "--days", "3", "--prefix", "tmp/", "--yes"], env=env
        )
        assert not proxy.emulator.used
    assert res.code == 0, res.stdout + res.stderr
    rules = {r["ID"]: r for r in lifecycle_rules(buckets, bucket)}  # RGW sorts them by ID
    assert rules["theirs-tagged"] == before[0]
    assert rules["mpusweep-abort-incomplete-mpu:tmp/"]["Filter"] == {"Prefix": "tmp/"}


FILTERED_ABORT_RULES = [
    {
        "ID": "tagged",
        "Status": "Enabled",
        "Filter": {"Tag": {"Key": "a", "Value": "b"}},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    },
    {
        "ID": "prefix-and-tag",
        "Status": "Enabled",
        "Filter": {"And": {"Prefix": "", "Tags": [{"Key": "a", "Value": "b"}]}},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    },
]


def test_filtered_abort_rules_of_theirs_are_kept_but_are_not_coverage(buckets, backend, cli):
    """A service that stores an abort rule with a tag filter (moto, LocalStack; RGW refuses it,
    as AWS does) aborts only tagged uploads: the bucket is not shown as covered, the rule is
    kept by apply."""
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [1])
    if backend.name == "rgw":
        with pytest.raises(buckets.s3.exceptions.ClientError, match="InvalidRequest"):
            buckets.s3.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": FILTERED_ABORT_RULES}
            )
        return
    buckets.s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": FILTERED_ABORT_RULES}
    )
    env = backend.env()
    doc = cli(["scan", bucket, "--format", "json"], env=env).json()
    table = cli(["scan", bucket], env=env).stdout
    status = cli(["lifecycle", "status", bucket, "--format", "json"], env=env).json()
    applied = cli(["lifecycle", "apply", bucket, "--days", "2", "--yes"], env=env)
    assert doc["buckets"][0]["abort_rules"] == []
    assert "No lifecycle rule aborts incomplete uploads in this bucket" in table
    assert "not counted as coverage" in table
    assert [r["prefix"] for r in status["buckets"][0]["abort_rules"]] == [None, None]
    assert applied.code == 0, applied.stdout
    assert lifecycle_rules(buckets, bucket)[:2] == FILTERED_ABORT_RULES


def test_directory_bucket_is_paged_on_the_key_marker_alone(buckets, backend, tmp_path):
    """S3 Express One Zone directory buckets have no upload-id marker and an opaque
    NextKeyMarker: mpusweep pages on it alone, and lists, sizes and aborts exactly."""
    real = buckets.new("d")
    made = make_keyed(buckets, real)
    directory = real + DIRECTORY_SUFFIX
    with emulating(backend, "s3express") as proxy:
        s3 = via(proxy, backend, kind=S3Writer, page_size=3)
        found = scan(s3, Selection(buckets=(directory,)), now=datetime.now(UTC))
        result, records = clean_all(s3, [directory], tmp_path)
        listings = [s.path for s in proxy.seen if "uploads" in s.path and s.method == "GET"]
        sessions = [s for s in proxy.seen if "session" in s.path]
    assert [b.error for b in found.buckets] == [None]
    assert {(u.key, u.upload_id): u.size for u in found.uploads} == made
    assert len(listings) >= 8 and not any("upload-id-marker" in p for p in listings)
    assert sessions  # botocore signs with an S3 Express session, as on AWS
    assert sorted(assert_one_outcome_per_intent(records)) == sorted(u for _, u in made)
    assert result.summary.aborted == len(made)
    assert buckets.listing(real) == []


def test_requester_pays_bucket_needs_request_payer(buckets, backend, cli, tmp_path):
    """A requester-pays bucket answers 403 without x-amz-request-payer: the error says what to
    add; with --request-payer requester, listing, ListParts and aborts all work."""
    bucket = buckets.new()
    buckets.make_many(bucket, ["a", "b"], [2])
    with emulating(backend, "requester-pays", buckets={bucket}) as proxy:
        env = proxy_env(backend, proxy)
        refused = cli(["scan", bucket], env=env)
        payer = ["--request-payer", "requester"]
        scanned = cli(["scan", bucket, "--format", "json", *payer], env=env)
        cleaned = cli(
            [
                *clean_now(bucket),
                "--verify",
                "always",
                *payer,
                "--audit-log",
                str(tmp_path / "a.jsonl"),
            ],
            env=env,
        )
        unpaid = [s.path for s in proxy.seen if s.status == 403]
    assert refused.code == 3
    assert "add --request-payer requester" in refused.stderr
    assert scanned.code == 0, scanned.stderr
    assert scanned.json()["total"] == {
        "buckets": 1,
        "uploads": 2,
        "size": 4,
        "failed_buckets": 0,
        "size_errors": 0,
        "cost_per_month": None,
    }
    assert cleaned.code == 0, cleaned.stdout + cleaned.stderr
    assert len(unpaid) == 1
    assert buckets.listing(bucket) == []


# -- LocalStack's own S3 and moto: keys the XML cannot carry --------------------------------------


@pytest.fixture(params=["moto", pytest.param("localstack", marks=pytest.mark.localstack)])
def raw_xml_backend(request):
    """The servers that write a control character raw into their XML."""
    return request.getfixturevalue(f"{request.param}_backend")


CONTROL_KEY = "ctrl\x01char"


def test_raw_control_character_fails_the_bucket_at_once_and_clearly(raw_xml_backend):
    """moto and LocalStack write a key's control character raw into the XML, url-encoded or
    not: no client can list that bucket. It fails at once, with the reason, without asking
    again or url-encoded (LocalStack would then page wrongly); the other bucket is scanned."""
    made = Buckets(raw_xml_backend)
    try:
        bad, fine = made.new("bad"), made.new("fine")
        made.make_upload(bad, CONTROL_KEY, [1])
        made.make_upload(bad, "plain", [1])
        made.make_upload(fine, "k", [3])
        with recording_proxy(raw_xml_backend.endpoint_url) as proxy:
            s3 = via(proxy, raw_xml_backend)
            result = scan(s3, Selection(buckets=(bad, fine)), now=datetime.now(UTC))
            listings = [
                s.path for s in proxy.seen if s.path.startswith(f"/{bad}?") and "uploads" in s.path
            ]
    finally:
        made.cleanup()
    summaries = {b.bucket: b for b in result.buckets}
    assert summaries[bad].error is not None
    assert "control character that the service writes raw into its XML" in summaries[bad].error
    assert summaries[fine].error is None and summaries[fine].size == 3
    assert len(listings) == 1 and "encoding-type" not in listings[0]


def _scan_control_key_as_reference(backend: Backend) -> tuple[ScanResult, list[str]]:
    """Scan a bucket holding one upload whose key has a control character, through a proxy
    that writes the character as the reference ``&#x01;``; the result and the paths asked."""
    made = Buckets(backend)
    try:
        bucket = made.new()
        made.make_upload(bucket, CONTROL_KEY, [1])

        def as_reference(method: str, path: str, reply: Reply) -> Reply:
            return Reply(reply.status, reply.body.replace(b"\x01", b"&#x01;"), reply.headers)

        with recording_proxy(backend.endpoint_url) as proxy:
            proxy.rewrite = as_reference
            result = scan(via(proxy, backend), Selection(buckets=(bucket,)), now=datetime.now(UTC))
            return result, [s.path for s in proxy.seen]
    finally:
        made.cleanup()


def test_localstack_never_pages_url_encoded(localstack_backend):
    """LocalStack says EncodingType=url but leaves keys and markers raw and compares the key
    marker with the encoded key, so an url-encoded listing pages wrongly. Even when an answer
    holds a character reference that would call for one (here put there by the proxy), the
    bucket fails with the reason instead."""
    result, paths = _scan_control_key_as_reference(localstack_backend)
    encoded = [p for p in paths if "encoding-type" in p]
    (summary,) = result.buckets
    assert summary.error is not None
    assert "pages url-encoded listings wrongly (LocalStack)" in summary.error
    assert encoded == []


def test_character_reference_in_a_key_is_never_repaired_into_a_wrong_key(moto_backend):
    """A service that writes a control character as ``&#x01;`` and ignores url encoding (moto,
    behind a proxy that writes the reference): the key cannot be read, so the bucket fails;
    it is never listed, sized or aborted under a repaired key that does not exist."""
    result, paths = _scan_control_key_as_reference(moto_backend)
    parts = [p for p in paths if "uploadId=" in p]
    (summary,) = result.buckets
    assert summary.error is not None
    assert "does not url-encode keys when asked" in summary.error
    assert (result.uploads, parts) == ((), [])


def test_localstack_url_encoding_is_announced_but_not_applied(localstack_backend):
    """Why mpusweep never asks LocalStack for url-encoded keys: it says ``url`` but leaves Key
    and NextKeyMarker raw, and refuses its own raw NextKeyMarker back with the upload-id
    marker (it compares the key marker with the encoded key)."""
    made = Buckets(localstack_backend)
    try:
        bucket = made.new()
        first = made.make_upload(bucket, "a b", [])
        made.make_upload(bucket, "z", [])
        page = made.s3.list_multipart_uploads(Bucket=bucket, EncodingType="url", MaxUploads=1)
        assert page["EncodingType"] == "url"
        assert page["Uploads"][0]["Key"] == page["NextKeyMarker"] == "a b"
        with pytest.raises(made.s3.exceptions.ClientError, match="Invalid uploadId marker"):
            made.s3.list_multipart_uploads(
                Bucket=bucket, EncodingType="url", KeyMarker="a b", UploadIdMarker=first
            )
    finally:
        made.cleanup()


# -- LocalStack's own S3: times and lifecycle ------------------------------------------------------


def test_localstack_times_are_whole_seconds_and_ages_exact(localstack_backend, cli):
    """LocalStack's Initiated has whole seconds: ages are measured from what it lists."""
    made = Buckets(localstack_backend)
    try:
        bucket = made.new()
        for i in range(3):
            made.make_upload(bucket, f"k{i}", [1])
        listed = made.s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
        now = max(u["Initiated"] for u in listed) + timedelta(hours=1, milliseconds=500)
        doc = cli(
            ["scan", bucket, "--format", "json", "--now", now.isoformat()],
            env=localstack_backend.env(),
        ).json()
    finally:
        made.cleanup()
    assert all(u["Initiated"].microsecond == 0 for u in listed)
    assert all(
        u["initiated"].endswith(":00.000Z") or re.search(r":\d\d\.000Z$", u["initiated"])
        for u in doc["uploads"]
    )
    ages = {u["key"]: u["age_seconds"] for u in doc["uploads"]}
    expected = {u["Key"]: int((now - u["Initiated"]).total_seconds()) for u in listed}
    assert ages == expected


def test_localstack_stores_lifecycle_rules_but_never_runs_them(localstack_backend, cli):
    """A rule applied on LocalStack reads back, but LocalStack never aborts anything and sends
    no abort date: status and scan say the rule is not run there."""
    made = Buckets(localstack_backend)
    try:
        bucket = made.new()
        upload_id = made.make_upload(bucket, "k", [1])
        env = localstack_backend.env()
        applied = cli(["lifecycle", "apply", bucket, "--days", "1", "--yes"], env=env)
        status = cli(["lifecycle", "status", bucket], env=env)
        doc = cli(["scan", bucket, "--format", "json"], env=env).json()
        parts = made.s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    finally:
        made.cleanup()
    assert applied.code == 0, applied.stdout
    assert "stores lifecycle rules but never runs them (LocalStack)" in status.stdout
    (entry,) = doc["buckets"]
    assert entry["abort_rules"] == [{"prefix": "", "days": 1}]
    assert any("never runs them" in note for note in entry["notes"])
    assert doc["uploads"][0]["abort_date"] is None
    assert "x-amz-abort-date" not in parts["ResponseMetadata"]["HTTPHeaders"]


# -- LocalStack, the server itself: kept on loopback by the test harness ------------------------


def _process_group(leader: int) -> set[int]:
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == leader:  # pgrp: the server leads a session of its own
            members.add(int(stat.parent.name))
    return members


def test_localstack_listens_and_talks_on_loopback_only(localstack_backend):
    """The launcher keeps twisted off 0.0.0.0; no DNS server, no outbound connection; its
    files stay in its own directory."""
    made = Buckets(localstack_backend)
    try:
        bucket = made.new()
        made.make_upload(bucket, "k", [1])
        port = urlsplit(localstack_backend.endpoint_url).port
        sockets = subprocess.run(
            ["ss", "-H", "-tuanp"], capture_output=True, text=True, check=True, timeout=30
        ).stdout.splitlines()
    finally:
        made.cleanup()
    owner = next(
        int(m.group(1))
        for line in sockets
        if f":{port} " in line and "LISTEN" in line and (m := re.search(r"pid=(\d+)", line))
    )
    group = _process_group(os.getpgid(owner))
    theirs = [
        line for line in sockets if any(int(pid) in group for pid in re.findall(r"pid=(\d+)", line))
    ]
    listeners = [line for line in theirs if "LISTEN" in line or line.startswith("udp")]
    assert [line.split()[4] for line in listeners] == [f"127.0.0.1:{port}"]
    for line in theirs:
        if line not in listeners:
            for address in line.split()[4:6]:
                assert address.rsplit(":", 1)[0] in ("127.0.0.1", "[::1]"), line
    assert not Path("/tmp/localstack-s3-storage", bucket).exists()
    assert not Path("/var/lib/localstack").exists()


FENCE_CHECK = """
import socket, sys
sys.path.insert(0, sys.argv[1])
import localstack_launcher
localstack_launcher.fence_sockets()
results = []
addresses = [(socket.AF_INET, "0.0.0.0"), (socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::")]
for family, host in addresses:
    with socket.socket(family) as sock:
        try:
            sock.bind((host, 0))
            results.append("bound")
        except PermissionError:
            results.append("refused")
with socket.socket() as sock:
    try:
        sock.connect(("0.0.0.0", 9))
    except PermissionError:
        results.append("refused")
print(" ".join(results))
"""


def test_localstack_launcher_refuses_sockets_off_loopback():
    done = subprocess.run(
        [sys.executable, "-I", "-c", FENCE_CHECK, str(localstack_server.LAUNCHER.parent)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["refused", "bound", "refused", "refused"]
