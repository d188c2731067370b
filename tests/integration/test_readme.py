"""The README's library example runs, as printed, against a real server."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks(heading: str) -> list[str]:
    section = README.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_library_example_runs(buckets, backend, tmp_path, monkeypatch, capsys):
    bucket = buckets.new("backup")
    buckets.make_upload(bucket, "k", [3])
    for name, value in backend.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    first, pool = python_blocks("Library use")
    code = first.replace('"https://objects-us-east-1.dream.io"', repr(backend.endpoint_url))
    code = code.replace('"backup-*"', repr(bucket))
    # The example aborts uploads older than a week: RGW's are minutes old (moto's are from
    # 2010), so its clock reads eight days on.
    code = code.replace("datetime.now(UTC)", "(datetime.now(UTC) + timedelta(days=8))")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    exec(compile(pool, "README.md", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert out.startswith("3 ['k']")
    assert namespace["done"].summary.aborted == 1
    assert buckets.listing(bucket) == []
    assert (tmp_path / "audit.jsonl").exists()


def json_blocks(heading: str) -> list[str]:
    section = README.read_text().split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```json\n(.*?)```", section, re.S)


def test_json_schema_in_the_readme_is_what_scan_prints(buckets, backend, cli):
    import json

    bucket = buckets.new()
    buckets.make_upload(bucket, "backups/k", [1])
    doc = cli(["scan", bucket, "--format", "json"], env=backend.env()).json()
    example, group = json_blocks("JSON output")
    documented = json.loads(example)
    assert documented.keys() == doc.keys()
    assert documented["uploads"][0].keys() == doc["uploads"][0].keys()
    assert documented["buckets"][0].keys() == doc["buckets"][0].keys()
    assert documented["total"].keys() == doc["total"].keys()
    assert doc["price"] is doc["group_by"] is doc["groups"] is None
    priced = ["--price-per-gb-month", "0.025", "--group-by", "prefix:1"]
    doc = cli(["scan", bucket, "--format", "json", *priced], env=backend.env()).json()
    assert documented["price"].keys() == doc["price"].keys()
    assert doc["group_by"] == "prefix:1"
    assert [json.loads(group)] == [
        {**doc["groups"][0], "bucket": "workbackup", "size": 3221225472, "uploads": 3,
         "cost_per_month": 0.075}
    ]  # fmt: skip


def test_clean_json_fields_in_the_readme_are_what_clean_prints(buckets, backend, cli, tmp_path):
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [1])
    args = ["clean", bucket, "--yes", "--older-than", "0", "--idle-for", "0", "--format", "json"]
    doc = cli([*args, "--audit-log", str(tmp_path / "a")], env=backend.env()).json()
    section = README.read_text().split("`clean --format json`", 1)[1].split("\n## ", 1)[0]
    summary = re.search(r'"summary": \{(.*?)\}', section, re.S)
    assert summary is not None
    assert set(re.findall(r'"(\w+)"', summary.group(1))) == set(doc["summary"])
    top = section.split('"buckets"', 1)[0]
    assert set(re.findall(r'"(\w+)"', top)) | {"buckets", "summary"} == set(doc)
