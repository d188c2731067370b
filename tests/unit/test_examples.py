"""docs/examples/: the schedules parse, the systemd units verify, the config loads, and every
example runs the same command line (``example_commands`` hands them to other tests)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mpusweep.config import load_config, parse_config

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"

#: The command every example schedules.
EXAMPLE_ARGV = [
    "mpusweep",
    "clean",
    "--all-targets",
    "--yes",
    "--max-aborts",
    "10000",
    "--metrics-file",
    "/var/lib/node_exporter/textfile/mpusweep.prom",
]

_CRON_FIELD = re.compile(r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*")


def cron_command() -> list[str]:
    """The command of the crontab's one job line."""
    jobs = []
    for line in (EXAMPLES / "crontab").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.fullmatch(r"[A-Z_]+=.*", line):  # an environment setting
            continue
        fields = line.split(None, 5)
        assert len(fields) == 6, line
        assert all(_CRON_FIELD.fullmatch(f) for f in fields[:5]), line
        jobs.append(shlex.split(fields[5]))
    (job,) = jobs
    return job


def unit_settings(name: str) -> dict[str, list[str]]:
    """A systemd unit's settings, every value of each key, in order."""
    settings: dict[str, list[str]] = {}
    for line in (EXAMPLES / name).read_text().splitlines():
        if not line.strip() or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def systemd_command() -> list[str]:
    (exec_start,) = unit_settings("mpusweep.service")["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/mpusweep/bin/mpusweep"  # the venv the unit's comment creates
    return ["mpusweep", *argv[1:]]


def kubernetes_documents() -> list[dict]:
    return list(yaml.safe_load_all((EXAMPLES / "kubernetes-cronjob.yaml").read_text()))


def kubernetes_command() -> list[str]:
    (cronjob,) = [d for d in kubernetes_documents() if d["kind"] == "CronJob"]
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return [*container["command"], *container["args"]]


def example_commands() -> dict[str, list[str]]:
    """Each example's command line, ``mpusweep`` first: run them against a test server."""
    return {
        "cron": cron_command(),
        "systemd": systemd_command(),
        "kubernetes": kubernetes_command(),
    }


def test_every_example_runs_the_same_command():
    commands = example_commands()
    for where, argv in commands.items():
        assert argv == EXAMPLE_ARGV, where
    assert shlex.join(EXAMPLE_ARGV[1:]) in (EXAMPLES / "README.md").read_text().replace(
        " \\\n        ", " "
    )


def test_kubernetes_manifests_hang_together():
    docs = kubernetes_documents()
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"ConfigMap", "PersistentVolumeClaim", "CronJob"}
    cronjob = kinds["CronJob"]
    assert cronjob["apiVersion"] == "batch/v1"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert set(mounts) == set(volumes)
    assert volumes["config"]["configMap"]["name"] == kinds["ConfigMap"]["metadata"]["name"]
    assert (
        volumes["state"]["persistentVolumeClaim"]["claimName"]
        == (kinds["PersistentVolumeClaim"]["metadata"]["name"])
    )
    env = {e["name"]: e["value"] for e in container["env"]}
    # The config, state and credentials land where mpusweep and botocore look for them.
    assert mounts["config"] == f"{env['XDG_CONFIG_HOME']}/mpusweep"
    assert mounts["state"] == f"{env['XDG_STATE_HOME']}/mpusweep"
    assert env["AWS_SHARED_CREDENTIALS_FILE"].startswith(mounts["credentials"] + "/")
    metrics_file = container["args"][container["args"].index("--metrics-file") + 1]
    assert metrics_file.startswith(mounts["textfile"] + "/")
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # The ConfigMap's configuration is valid and holds no secret.
    config = parse_config(kinds["ConfigMap"]["data"]["config.toml"], source="ConfigMap")
    assert config.targets


def test_dockerfile_pip_installs_mpusweep():
    text = (EXAMPLES / "Dockerfile").read_text()
    assert re.search(r"^RUN pip install --no-cache-dir mpusweep==[\d.]+$", text, re.M)
    assert 'ENTRYPOINT ["mpusweep"]' in text
    assert re.search(r"^USER 65534", text, re.M)


def test_systemd_units_point_at_each_other_and_at_mpusweeps_paths():
    service = unit_settings("mpusweep.service")
    timer = unit_settings("mpusweep.timer")
    assert service["Type"] == ["oneshot"]
    assert timer["Persistent"] == ["true"]
    assert timer["WantedBy"] == ["timers.target"]
    env = dict(item.split("=", 1) for line in service["Environment"] for item in line.split())
    assert env["XDG_CONFIG_HOME"] + "/" + service["ConfigurationDirectory"][0] == "/etc/mpusweep"
    assert env["XDG_STATE_HOME"] + "/" + service["StateDirectory"][0] == "/var/lib/mpusweep"
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == "%d/aws-credentials"
    assert service["LoadCredential"][0].startswith("aws-credentials:")
    metrics_file = EXAMPLE_ARGV[EXAMPLE_ARGV.index("--metrics-file") + 1]
    (writable,) = service["ReadWritePaths"]
    assert metrics_file.startswith(writable + "/")


def test_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    system_units = Path("/usr/lib/systemd/system")
    if analyze is None or not (system_units / "sysinit.target").exists():
        pytest.skip("systemd-analyze and systemd's own units are not installed")
    # A root holding systemd's units, ours, and a stand-in for the venv's mpusweep script
    # (verify checks that ExecStart's program exists).
    root = tmp_path / "root"
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for name in ("mpusweep.service", "mpusweep.timer"):
        shutil.copy(EXAMPLES / name, root / "etc/systemd/system" / name)
    program = root / "opt/mpusweep/bin/mpusweep"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    result = subprocess.run(
        [analyze, "verify", f"--root={root}", "mpusweep.service", "mpusweep.timer"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # verify exits 0 on settings it ignores ("Failed to parse ..., ignoring"): any output is
    # a problem.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_example_config_loads_without_secrets():
    config = load_config(EXAMPLES / "config.toml")
    assert len(config.targets) >= 2
    assert {t.name for t in config.targets} >= {"aws-prod"}


# -- mpusweep serve: a Deployment and a Service --------------------------------------------------

#: The command the serve example runs.
SERVE_ARGV = ["mpusweep", "serve", "--all-targets", "--every", "1h", "--listen", "0.0.0.0:9934"]


def kubernetes_serve_documents() -> list[dict]:
    return list(yaml.safe_load_all((EXAMPLES / "kubernetes-serve.yaml").read_text()))


def kubernetes_serve_command() -> list[str]:
    (deployment,) = [d for d in kubernetes_serve_documents() if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return [*container["command"], *container["args"]]


def test_kubernetes_serve_manifests_hang_together():
    kinds = {d["kind"]: d for d in kubernetes_serve_documents()}
    assert set(kinds) == {"Deployment", "Service"}
    deployment, service = kinds["Deployment"], kinds["Service"]
    assert deployment["apiVersion"] == "apps/v1"
    assert deployment["spec"]["replicas"] == 1  # one exporter: one scan, one series each
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    template = deployment["spec"]["template"]
    labels = template["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert service["spec"]["selector"] == labels
    pod = template["spec"]
    (container,) = pod["containers"]
    assert kubernetes_serve_command() == SERVE_ARGV
    listen = SERVE_ARGV[SERVE_ARGV.index("--listen") + 1]
    (port,) = container["ports"]
    assert port["containerPort"] == int(listen.rsplit(":", 1)[1])
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    assert service["metadata"]["annotations"]["prometheus.io/port"] == str(service_port["port"])
    probe = container["livenessProbe"]["httpGet"]
    assert (probe["path"], probe["port"]) == ("/metrics", port["name"])
    assert "readinessProbe" not in container  # /healthz is 503 while a target fails
    # The targets and keys are the CronJob example's: its ConfigMap and Secret.
    cronjob = {d["kind"]: d for d in kubernetes_documents()}
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert set(mounts) == set(volumes)
    assert volumes["config"]["configMap"]["name"] == cronjob["ConfigMap"]["metadata"]["name"]
    cron_pod = cronjob["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    cron_volumes = {v["name"]: v for v in cron_pod["volumes"]}
    assert volumes["credentials"]["secret"] == cron_volumes["credentials"]["secret"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert mounts["config"] == f"{env['XDG_CONFIG_HOME']}/mpusweep"
    assert env["AWS_SHARED_CREDENTIALS_FILE"].startswith(mounts["credentials"] + "/")
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert shlex.join(SERVE_ARGV) in (EXAMPLES / "README.md").read_text()
