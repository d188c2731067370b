"""``--shard K/N``: N copies of a run cover every target exactly once, by a hash of the name
(stable whatever the order or the number of targets; on moto with an organization's accounts:
tests/integration/test_organization.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mpusweep.cli import cli
from mpusweep.cli.options import shard_callback
from mpusweep.config import parse_config
from mpusweep.settings import Shard
from tests.support import run_cli

NAMES = ["prod", "backup", "archive", *(f"org/{n:012d}" for n in range(40))]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_n_shards_cover_every_target_exactly_once(count):
    shards = [{n for n in NAMES if Shard(k, count).covers(n)} for k in range(count)]
    assert set().union(*shards) == set(NAMES)
    assert sum(len(s) for s in shards) == len(NAMES)
    if count > 1:
        assert all(shards)  # 43 names: every shard has some


def test_a_target_keeps_its_shard_whatever_the_others():
    mine = {n for n in NAMES if Shard(1, 3).covers(n)}
    fewer = {n for n in NAMES[::2] if Shard(1, 3).covers(n)}
    assert fewer == mine & set(NAMES[::2])  # by name, not by position


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3/3", "K must be from 0 to 2"),
        ("1", "expected K/N"),
        ("a/2", "expected K/N"),
        ("0/0", "K must"),
    ],
)
def test_a_bad_shard_is_a_usage_error(value, message):
    res = run_cli(["scan", "--all-targets", "--shard", value])
    assert res.code == 2
    assert message in res.stderr


def test_a_shard_needs_configured_targets():
    res = run_cli(["scan", "--shard", "0/2"], env={"MPUSWEEP_SHARD": None})
    assert res.code == 2
    assert "--shard shares configured targets" in res.stderr


def test_every_command_that_shares_targets_takes_a_shard():
    for name in ("scan", "clean", "report"):
        assert "--shard" in {o for p in cli.commands[name].params for o in p.opts}


def test_the_kubernetes_indexed_job_gives_each_pod_its_own_shard_and_files():
    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "kubernetes-indexed-job.yaml"
    kinds = {d["kind"]: d for d in yaml.safe_load_all(path.read_text())}
    job = kinds["CronJob"]["spec"]["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    count = job["completions"]
    assert job["parallelism"] == count
    (container,) = job["template"]["spec"]["containers"]
    env = [e["name"] for e in container["env"]]
    # $(VAR) refers only to variables defined before it in the list.
    assert env.index("JOB_COMPLETION_INDEX") < env.index("MPUSWEEP_SHARD")
    values = {e["name"]: e.get("value") for e in container["env"]}
    argv = [*container["command"], *container["args"]]
    metrics_files, shards = set(), []
    for index in range(count):

        def expand(text: str, index: int = index) -> str:
            return text.replace("$(JOB_COMPLETION_INDEX)", str(index))

        shards.append(shard_callback(None, None, expand(values["MPUSWEEP_SHARD"])))  # type: ignore[arg-type]
        metrics_files.add(expand(argv[argv.index("--metrics-file") + 1]))
    assert shards == [Shard(k, count) for k in range(count)]
    assert len(metrics_files) == count  # each shard its own metrics file
    assert argv[:3] == ["mpusweep", "scan", "--all-targets"]
    (target,) = parse_config(kinds["ConfigMap"]["data"]["config.toml"]).targets
    assert target.organization is not None
