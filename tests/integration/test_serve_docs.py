"""The ``mpusweep serve`` commands the README and docs/examples show run as written, against
moto: the serve line (its port swapped for a free one), then the README's curl lines through
the shell; the Kubernetes example's command; and the README's scrape configuration passes
``promtool check config``."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_serve import get, serving, wait_for
from tests.servers.rgw import free_port
from tests.support import Backend, Buckets
from tests.unit.test_examples import SERVE_ARGV, kubernetes_serve_command

README = Path(__file__).resolve().parents[2] / "README.md"


def section() -> str:
    return (
        README.read_text()
        .split("## Serving metrics (`mpusweep serve`)\n", 1)[1]
        .split("\n## ", 1)[0]
    )


def lab_target(backend: Backend, made: Buckets, tmp_path: Path) -> dict[str, str]:
    """A configuration with one target, ``lab``, on the test server (as the examples expect
    one in the default place), its keys in a profile; the environment to run with."""
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "mpusweep" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[targets.lab]\nendpoint_url = "{backend.endpoint_url}"\nprofile = "lab"\n'
        f'buckets = ["{made.prefix}-*"]\n'
    )
    config.chmod(0o600)
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[lab]\naws_access_key_id = {backend.access_key}\n"
        f"aws_secret_access_key = {backend.secret_key}\n"
    )
    return {
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_ENDPOINT_URL": "",
    }


def test_the_readme_serve_commands_run_as_written(moto_backend, tmp_path):
    made = Buckets(moto_backend)
    try:
        bucket = made.new("logs")
        made.make_upload(bucket, "left/behind", [1024])
        env = lab_target(moto_backend, made, tmp_path)
        (block,) = re.findall(r"```sh\n(.*?)```", section(), re.S)
        port = str(free_port())
        serve_line, *curls = [line.replace("9934", port) for line in block.splitlines()]
        argv = shlex.split(serve_line.removesuffix("&"))
        assert argv[:2] == ["mpusweep", "serve"] and "--all-targets" in argv
        with serving(argv[2:], env, tmp_path) as served:
            assert served.url == f"http://127.0.0.1:{port}"
            wait_for("a healthy scan", lambda: get(f"{served.url}/healthz")[0] == 200)
            outputs = [
                subprocess.run(
                    ["sh", "-c", line], capture_output=True, text=True, timeout=30, check=True
                ).stdout
                for line in curls
            ]
            assert served.stop() == 0, served.err()
        health, metrics = outputs
        assert health.startswith("ok: ")
        assert f'mpusweep_bucket_uploads{{bucket="{bucket}",target="lab"}} 1.0' in metrics
    finally:
        made.cleanup()


def test_the_kubernetes_serve_example_runs(moto_backend, tmp_path):
    made = Buckets(moto_backend)
    try:
        bucket = made.new("logs")
        made.make_upload(bucket, "k", [10])
        env = lab_target(moto_backend, made, tmp_path)
        argv = kubernetes_serve_command()
        assert argv == SERVE_ARGV
        # Its address, 0.0.0.0:9934, swapped for a free loopback one (the warning it gives
        # for 0.0.0.0 is tested on its own).
        at = argv.index("--listen") + 1
        argv[at] = "127.0.0.1:0"
        with serving(argv[2:], env, tmp_path) as served:
            wait_for("a healthy scan", lambda: get(f"{served.url}/healthz")[0] == 200)
            status, text = get(f"{served.url}/metrics")
            assert served.stop() == 0, served.err()
        assert status == 200
        assert f'mpusweep_bucket_uploads{{bucket="{bucket}",target="lab"}} 1.0' in text
    finally:
        made.cleanup()


@pytest.mark.prometheus
def test_the_readme_scrape_configuration_is_valid(prometheus_installed, tmp_path):
    (config,) = re.findall(r"```yaml\n(.*?)```", section(), re.S)
    path = tmp_path / "prometheus.yml"
    path.write_text(config)
    done = subprocess.run(
        ["promtool", "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
