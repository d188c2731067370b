"""The command every example in docs/examples schedules (cron, systemd, Kubernetes) runs, as
written, against moto: the targets from the default configuration file, the state in the
default state directory, the metrics file where the example puts it (moved into the test's
directory)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import Buckets, mpusweep_command
from tests.unit.test_examples import EXAMPLE_ARGV, example_commands

EXAMPLE_METRICS = EXAMPLE_ARGV[EXAMPLE_ARGV.index("--metrics-file") + 1]


@pytest.mark.parametrize("where", ["cron", "systemd", "kubernetes"])
def test_the_example_command_runs(where, moto_backend, tmp_path):
    made = Buckets(moto_backend)
    try:
        stale, other = made.new("logs"), made.new("other")
        made.make_upload(stale, "left/behind", [1024])  # moto: initiated in 2010
        made.make_upload(other, "not/selected", [1024])
        config = Path(os.environ["XDG_CONFIG_HOME"]) / "mpusweep" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(
            "[targets.lab]\n"
            f'endpoint_url = "{moto_backend.endpoint_url}"\n'
            'profile = "lab"\n'
            f'buckets = ["{made.prefix}-logs-*"]\n'
            "[targets.lab.clean]\n"
            'older_than = "7d"\n'
            # moto dates every upload 2010, but its parts were just written: a real stale
            # upload's parts are as old, and clean keeps uploads written to within 6h.
            'idle_for = "0s"\n'
        )
        config.chmod(0o600)
        credentials = tmp_path / "credentials"
        credentials.write_text(
            f"[lab]\naws_access_key_id = {moto_backend.access_key}\n"
            f"aws_secret_access_key = {moto_backend.secret_key}\n"
        )
        metrics_file = tmp_path / "textfile" / "mpusweep.prom"
        metrics_file.parent.mkdir()
        argv = [str(metrics_file) if a == EXAMPLE_METRICS else a for a in example_commands()[where]]
        assert argv[0] == "mpusweep"
        env = {
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_ACCESS_KEY_ID": "",
            "AWS_SECRET_ACCESS_KEY": "",
            "AWS_ENDPOINT_URL": "",
        }
        done = mpusweep_command(argv[1:], env=env)
        assert done.code == 0, done.stderr
        assert made.listing(stale) == []
        assert len(made.listing(other)) == 1
        families = {f.name: f for f in text_string_to_metric_families(metrics_file.read_text())}
        (aborted,) = families["mpusweep_clean_aborted_uploads"].samples
        assert (aborted.labels, aborted.value) == ({"target": "lab"}, 1)
        state = Path(os.environ["XDG_STATE_HOME"]) / "mpusweep"
        assert (state / "history.sqlite3").exists()
        assert (state / "audit.jsonl").exists()
    finally:
        made.cleanup()
