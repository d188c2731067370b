"""An organization as one target, on moto's server (Organizations, STS and S3): every ACTIVE
account becomes a target ``NAME/ACCOUNT_ID``, the management account scanned with its own keys,
each member through its assumed role (moto keeps each account's buckets apart by the keys a
request is signed with). A recording proxy in front of STS refuses one account's AssumeRole,
as an account without the role (or whose trust policy refuses us) would.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from prometheus_client.parser import text_string_to_metric_families

from tests.servers.moto import running_moto
from tests.servers.proxy import RecordingProxy, Reply, Seen, recording_proxy
from tests.servers.rgw import free_port
from tests.support import MOTO_KEYS

MANAGEMENT = "123456789012"  # moto's caller account
ROLE = "OrganizationAccountAccessRole"
DENIED = (
    b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender'
    b"</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: "
    b"sts:AssumeRole</Message></Error><RequestId>test</RequestId></ErrorResponse>"
)


@dataclass
class Org:
    """The organization on its own moto server: accounts by label, their buckets' uploads."""

    url: str
    proxy: RecordingProxy
    accounts: dict[str, str] = field(default_factory=dict)  # label -> account id
    ous: dict[str, str] = field(default_factory=dict)  # label -> OU id
    #: Per account id: the bucket and the keys of its uploads.
    uploads: dict[str, tuple[str, list[str]]] = field(default_factory=dict)

    def client(self, service: str, keys: tuple[str, ...] = MOTO_KEYS) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1],
            aws_session_token=keys[2] if len(keys) > 2 else None,
            config=Config(s3={"addressing_style": "path"}),
        )

    def keys_of(self, account: str) -> tuple[str, ...]:
        if account == MANAGEMENT:
            return MOTO_KEYS
        role = f"arn:aws:iam::{account}:role/{ROLE}"
        got = self.client("sts").assume_role(RoleArn=role, RoleSessionName="setup")
        c = got["Credentials"]
        return (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])

    def seed(self, account: str, label: str, count: int) -> None:
        s3 = self.client("s3", self.keys_of(account))
        bucket = f"org-{label}"
        s3.create_bucket(Bucket=bucket)
        keys = [f"{label}/{n}" for n in range(count)]
        for key in keys:
            s3.create_multipart_upload(Bucket=bucket, Key=key)
        self.uploads[account] = (bucket, keys)

    def refuse(self, account: str) -> None:
        """STS answers AccessDenied to AssumeRole into ``account``; the rest goes to moto."""

        def exchange(seen: Seen, forward: Any) -> Reply:
            if b"Action=AssumeRole" in seen.body and account.encode() in seen.body:
                return Reply(403, DENIED, {"Content-Type": "text/xml"})
            reply: Reply = forward()
            return reply

        self.proxy.exchange = exchange

    def env(self) -> dict[str, str | None]:
        """The management account's keys; Organizations through AWS_ENDPOINT_URL, STS
        through AWS_ENDPOINT_URL_STS (the proxy): botocore's own endpoint settings."""
        return {
            "AWS_ACCESS_KEY_ID": MOTO_KEYS[0],
            "AWS_SECRET_ACCESS_KEY": MOTO_KEYS[1],
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ENDPOINT_URL_STS": self.proxy.url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_PROFILE": None,
            "AWS_EC2_METADATA_DISABLED": "true",
        }


@pytest.fixture(scope="module")
def org() -> Iterator[Org]:
    """Management (123456789012) with 2 uploads; dev (in OU team, under OU eng) with 1; prod
    (in OU eng) with 3; excluded with 1; refused (its role cannot be assumed) with 1."""
    with running_moto() as url, recording_proxy(url) as proxy:
        made = Org(url, proxy)
        organizations = made.client("organizations")
        organizations.create_organization(FeatureSet="ALL")
        root = organizations.list_roots()["Roots"][0]["Id"]
        eng = organizations.create_organizational_unit(ParentId=root, Name="eng")
        made.ous["eng"] = eng["OrganizationalUnit"]["Id"]
        team = organizations.create_organizational_unit(ParentId=made.ous["eng"], Name="team")
        made.ous["team"] = team["OrganizationalUnit"]["Id"]
        for label in ("dev", "prod", "excluded", "refused"):
            status = organizations.create_account(AccountName=label, Email=f"{label}@example.com")[
                "CreateAccountStatus"
            ]
            made.accounts[label] = status["AccountId"]
        for label, ou in (("dev", "team"), ("prod", "eng")):
            organizations.move_account(
                AccountId=made.accounts[label],
                SourceParentId=root,
                DestinationParentId=made.ous[ou],
            )
        made.seed(MANAGEMENT, "management", 2)
        for label, count in (("dev", 1), ("prod", 3), ("excluded", 1), ("refused", 1)):
            made.seed(made.accounts[label], label, count)
        made.refuse(made.accounts["refused"])
        yield made


def write_config(tmp_path: Path, made: Org, **tables: dict[str, object]) -> Path:
    lines = []
    for name, table in tables.items():
        lines.append(f"[targets.{name}]")
        base = {"endpoint_url": made.url, "region": "us-east-1", "organization_role": ROLE}
        given = {**base, **table}.items()
        lines += [f"{key} = {json.dumps(value)}" for key, value in given if value is not None]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def per_target(doc: dict[str, Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {t["target"]: set() for t in doc["targets"]}
    for upload in doc["uploads"]:
        found[upload["target"]].add(f"{upload['bucket']}/{upload['key']}")
    return found


def expected(org: Org, account: str) -> set[str]:
    bucket, keys = org.uploads[account]
    return {f"{bucket}/{key}" for key in keys}


def test_every_account_is_a_target_and_a_refused_role_is_an_error_not_an_empty_account(
    cli, org, tmp_path
):
    ids = org.accounts
    config = write_config(tmp_path, org, org={"exclude_accounts": [ids["excluded"]]})
    prom, history = tmp_path / "scan.prom", tmp_path / "history.sqlite3"
    res = cli(
        [
            *("scan", "--config", str(config), "--all-targets", "--format", "json"),
            *("--metrics-file", str(prom), "--history", str(history)),
        ],
        env=org.env(),
    )
    assert res.code == 3, res.stderr  # partial: one account failed, the others were done
    doc = json.loads(res.stdout)
    targets = {t["target"]: t for t in doc["targets"]}
    names = {f"org/{MANAGEMENT}", *(f"org/{ids[a]}" for a in ("dev", "prod", "refused"))}
    assert set(targets) == names  # the excluded account is no target
    found = per_target(doc)
    # Each account's own uploads, and only those: the management account with its own keys,
    # each member through its role.
    assert found[f"org/{MANAGEMENT}"] == expected(org, MANAGEMENT)
    for label in ("dev", "prod"):
        assert found[f"org/{ids[label]}"] == expected(org, ids[label])
        assert targets[f"org/{ids[label]}"]["account_name"] == label
        assert targets[f"org/{ids[label]}"]["exit_code"] == 0
    refused = targets[f"org/{ids['refused']}"]
    assert refused["exit_code"] != 0
    assert f"cannot assume role arn:aws:iam::{ids['refused']}:role/{ROLE}" in refused["error"]
    assert "AccessDenied" in refused["error"]
    assert found[f"org/{ids['refused']}"] == set()
    # STS was asked through the proxy (AWS_ENDPOINT_URL_STS): once to know who we are, and
    # AssumeRole per member account, never for the management account.
    bodies = [s.body for s in org.proxy.seen]
    assert any(b"Action=GetCallerIdentity" in b for b in bodies)
    assumed = [b for b in bodies if b"Action=AssumeRole" in b]
    assert not any(MANAGEMENT.encode() in b for b in assumed)
    assert not any(ids["excluded"].encode() in b for b in assumed)

    # Metrics: each account's series under its own target label; the refused account's run
    # failed and it has no bucket series (never a zero).
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(prom.read_text())
        for s in family.samples
    }
    prod = f"org/{ids['prod']}"
    assert (
        samples[("mpusweep_bucket_uploads", frozenset({("target", prod), ("bucket", "org-prod")}))]
        == 3
    )
    runs = {
        dict(labels)["target"]: v
        for (n, labels), v in samples.items()
        if n == "mpusweep_run_success"
    }
    assert runs == {n: (0.0 if n == f"org/{ids['refused']}" else 1.0) for n in names}
    assert not any(
        dict(labels).get("target") == f"org/{ids['refused']}"
        for (n, labels) in samples
        if n.startswith("mpusweep_bucket_")
    )
    # History: the same names, each account its own identity.
    with sqlite3.connect(history) as db:
        recorded = dict(db.execute("SELECT DISTINCT target, identity FROM runs"))
    assert set(recorded) == names
    assert recorded[prod] == f"account:{ids['prod']}"


def test_the_table_names_each_account_and_lines_name_their_target(cli, org, tmp_path):
    ids = org.accounts
    config = write_config(tmp_path, org, org={"accounts": [ids["dev"], ids["prod"]]})
    args = ["scan", "--config", str(config), "--all-targets", "--no-history"]
    res = cli(args, env=org.env())
    assert res.code == 0, res.stderr
    assert f'=== Target: org/{ids["dev"]} "dev"' in res.stdout
    assert f'=== Target: org/{ids["prod"]} "prod"' in res.stdout
    lines = cli([*args, "--format", "jsonl"], env=org.env())
    targets = {json.loads(line).get("target") for line in lines.stdout.splitlines()}
    assert {f"org/{ids['dev']}", f"org/{ids['prod']}"} <= targets
    rows = cli([*args, "--format", "csv"], env=org.env())
    records = list(csv.DictReader(io.StringIO(rows.stdout)))
    assert {(r["target"], r["bucket"]) for r in records} == {
        (f"org/{ids['dev']}", "org-dev"),
        (f"org/{ids['prod']}", "org-prod"),
    }


def test_ous_take_their_accounts_and_every_unit_under_them(cli, org, tmp_path):
    ids = org.accounts
    config = write_config(tmp_path, org, eng={"ous": [org.ous["eng"]]})
    res = cli(
        ["scan", "--config", str(config), "--target", "eng", "--format", "json", "--no-history"],
        env=org.env(),
    )
    assert res.code == 0, res.stderr
    found = per_target(json.loads(res.stdout))
    assert found == {
        f"eng/{ids['prod']}": expected(org, ids["prod"]),
        f"eng/{ids['dev']}": expected(org, ids["dev"]),
    }


@pytest.mark.parametrize("count", [1, 2, 3])
def test_shards_cover_every_target_once(cli, org, tmp_path, count):
    """N copies with --shard K/N: together every target (organization accounts included),
    each in exactly one shard; each shard records its own default history."""
    ids = org.accounts
    config = write_config(
        tmp_path,
        org,
        org={"exclude_accounts": [ids["refused"]]},
        plain={"organization_role": None},
    )
    every = {f"org/{a}" for a in (MANAGEMENT, ids["dev"], ids["prod"], ids["excluded"])} | {"plain"}
    state = tmp_path / "state"
    shards = []
    for index in range(count):
        res = cli(
            [
                *("scan", "--config", str(config), "--all-targets", "--format", "json"),
                *("--shard", f"{index}/{count}"),
            ],
            env={**org.env(), "XDG_STATE_HOME": str(state)},
        )
        assert res.code == 0, res.stderr
        shards.append({t["target"] for t in json.loads(res.stdout)["targets"]})
    assert set().union(*shards) == every
    assert sum(len(s) for s in shards) == len(every)  # disjoint
    for index, mine in enumerate(shards):
        history = state / "mpusweep" / f"history.shard-{index}-of-{count}.sqlite3"
        if not mine:
            assert not history.exists()  # a shard without targets records nothing
            continue
        with sqlite3.connect(history) as db:
            assert {t for (t,) in db.execute("SELECT DISTINCT target FROM runs")} == mine
    assert not (state / "mpusweep" / "history.sqlite3").exists()


def test_an_organization_that_cannot_be_listed_fails_as_one_target_and_the_others_go_on(
    cli, org, tmp_path
):
    config = write_config(tmp_path, org, org={}, plain={"organization_role": None})
    prom = tmp_path / "scan.prom"
    env = {
        **org.env(),
        "AWS_ENDPOINT_URL_ORGANIZATIONS": f"http://127.0.0.1:{free_port()}",  # nothing there
        "AWS_MAX_ATTEMPTS": "1",
    }
    args = ["scan", "--config", str(config), "--all-targets", "--format", "json", "--no-history"]
    res = cli([*args, "--metrics-file", str(prom)], env=env)
    assert res.code == 3, res.stderr
    targets = {t["target"]: t for t in json.loads(res.stdout)["targets"]}
    assert set(targets) == {"org", "plain"}
    assert targets["plain"]["exit_code"] == 0
    assert targets["org"]["exit_code"] == 6
    assert "cannot list the organization's accounts" in targets["org"]["error"]
    assert "mpusweep: error: target 'org': cannot list the organization's accounts" in res.stderr
    assert 'mpusweep_run_success{command="scan",target="org"} 0.0' in prom.read_text()

    # doctor checks the plain target and says the organization's accounts could not be listed.
    args = ["doctor", "--config", str(config), "--all-targets", "--format", "json"]
    res = cli(args, env=env)
    assert res.code == 7, res.stderr
    targets = {t["target"]: t for t in json.loads(res.stdout)["targets"]}
    assert (targets["org"]["setup"], targets["org"]["failed"]) == (None, 1)
    (check,) = targets["org"]["checks"]
    assert "cannot list the organization's accounts" in check["detail"]
    assert "organizations:ListAccounts" in check["fix"]
    assert targets["plain"]["setup"] is not None


def test_clean_aborts_in_each_account_through_its_role_and_lifecycle_status_reads_it(
    cli, org, tmp_path
):
    """clean and lifecycle status take an organization target too: a fresh account's uploads
    are aborted with its role's keys, and the management account's are left alone."""
    organizations = org.client("organizations")
    status = organizations.create_account(AccountName="cleaned", Email="cleaned@example.com")
    account = status["CreateAccountStatus"]["AccountId"]
    try:
        org.seed(account, "cleaned", 2)
        clean_and_read(cli, org, tmp_path, account)
    finally:  # the other tests' organization, as it was
        organizations.remove_account_from_organization(AccountId=account)


def clean_and_read(cli, org: Org, tmp_path: Path, account: str) -> None:
    config = write_config(tmp_path, org, org={"accounts": [account]})
    args = ["--config", str(config), "--target", "org"]
    res = cli(
        [
            "clean",
            *args,
            "--yes",
            "--older-than",
            "0s",
            "--idle-for",
            "0",
            "--format",
            "json",
            "--no-history",
        ],
        env=org.env(),
    )
    assert res.code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [t["target"] for t in doc["targets"]] == [f"org/{account}"]
    assert doc["targets"][0]["account_name"] == "cleaned"
    assert doc["summary"]["aborted"] == 2
    member = org.client("s3", org.keys_of(account))
    assert member.list_multipart_uploads(Bucket="org-cleaned").get("Uploads", []) == []
    own = org.client("s3").list_multipart_uploads(Bucket="org-management")
    assert len(own.get("Uploads", [])) == 2  # another account's, untouched

    res = cli(["lifecycle", "status", *args, "--format", "json"], env=org.env())
    assert res.code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert {b["target"] for b in doc["buckets"]} == {f"org/{account}"}
    assert doc["targets"][0]["account_name"] == "cleaned"


def test_the_report_names_each_account_s_buckets(cli, org, tmp_path):
    ids = org.accounts
    config = write_config(tmp_path, org, org={"accounts": [ids["dev"], ids["prod"]]})
    page = tmp_path / "report.html"
    res = cli(
        ["report", "--config", str(config), "--target", "org", "--output", str(page)],
        env={**org.env(), "XDG_STATE_HOME": str(tmp_path / "state")},
    )
    assert res.code == 0, res.stderr
    html = page.read_text()
    assert f"org/{ids['dev']}:org-dev" in html
    assert f"org/{ids['prod']}:org-prod" in html


def test_target_name_slash_account_runs_that_account_alone(cli, org, tmp_path):
    """--target org/ID: that account only, its role assumed with the target's external_id."""
    ids = org.accounts
    config = write_config(tmp_path, org, org={"external_id": "sweep-4711"})
    org.proxy.clear()
    base = ["scan", "--config", str(config), "--format", "json", "--no-history"]
    res = cli(
        [*base, "--target", f"org/{ids['prod']}", "--target", "org/" + ids["prod"]], env=org.env()
    )
    assert res.code == 0, res.stderr
    assert per_target(json.loads(res.stdout)) == {f"org/{ids['prod']}": expected(org, ids["prod"])}
    (assumed,) = [s.body for s in org.proxy.seen if b"Action=AssumeRole" in s.body]
    assert ids["prod"].encode() in assumed
    assert b"ExternalId=sweep-4711" in assumed
    res = cli([*base, "--target", "org/999999999999"], env=org.env())
    assert res.code == 2
    assert "no such account in target 'org'" in res.stderr
