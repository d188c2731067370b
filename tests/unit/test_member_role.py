"""docs/examples/member-role-stackset.yaml: cfn-lint passes it (and fails a broken copy, so
the check checks), and its policy is member-role-policy.json, which grants exactly what
mpusweep calls in a member account."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
TEMPLATE = EXAMPLES / "member-role-stackset.yaml"
#: cfn-lint (the test extra) beside this Python, else on the PATH.
CFN_LINT = (
    str(Path(sys.executable).with_name("cfn-lint"))
    if Path(sys.executable).with_name("cfn-lint").exists()
    else (shutil.which("cfn-lint") or "cfn-lint")
)
ACTIONS = {
    "s3:ListAllMyBuckets",
    "s3:GetBucketLocation",
    "s3:ListBucketMultipartUploads",
    "s3:ListMultipartUploadParts",
    "s3:AbortMultipartUpload",
    "s3:GetLifecycleConfiguration",
    "s3:PutLifecycleConfiguration",
}


def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CFN_LINT, "--", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cfn_lint_passes_the_template():
    done = cfn_lint(TEMPLATE)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        ("Type: AWS::IAM::Role", "Type: AWS::IAM::Rol"),
        ("MaxSessionDuration: 3600", "MaxSessionDuration: 60"),
    ],
)
def test_cfn_lint_fails_a_broken_template(tmp_path, good, bad):
    broken = tmp_path / "broken.yaml"
    broken.write_text(TEMPLATE.read_text().replace(good, bad))
    done = cfn_lint(broken)
    assert done.returncode != 0
    assert "broken.yaml" in done.stdout


def test_the_template_grants_the_policy_and_the_policy_grants_what_mpusweep_calls():
    template = yaml.safe_load(TEMPLATE.read_text())
    (policy,) = template["Resources"]["Role"]["Properties"]["Policies"]
    document = json.loads((EXAMPLES / "member-role-policy.json").read_text())
    assert policy["PolicyDocument"] == document
    granted = {a for s in document["Statement"] for a in s["Action"]}
    assert granted == ACTIONS
    assert all(s["Effect"] == "Allow" for s in document["Statement"])
