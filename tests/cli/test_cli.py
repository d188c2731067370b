"""The command line as a new user meets it: help, bad input, credentials, the demo."""

from __future__ import annotations

import os

import pytest

from mpusweep.cli.help_sections import HELP_SECTIONS, OTHER_SECTION
from mpusweep.errors import ExitCode
from tests.support import Buckets, mpusweep_command

NO_CREDS = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
    "AWS_WEB_IDENTITY_TOKEN_FILE": None,
}


def test_help_lists_exit_codes(cli):
    res = cli(["--help"])
    assert res.code == 0
    help_text = " ".join(res.stdout.split())
    for code, text in ExitCode.table():
        assert f"{code} {text.replace('`', '')}" in help_text
    for command in ("scan", "clean", "demo"):
        assert command in res.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["scan", "--older-than", "3 days"], "cannot read duration '3 days'"),
        (["scan", "--older-than", "7x"], "cannot read duration"),
        (["scan", "--format", "xml"], "'xml' is not one of"),
        (["clean", "--concurrency", "0"], "0 is not in the range"),
        (["scan", "bad/bucket"], "bad bucket 'bad/bucket'"),
        (["scan", "--no-sizes", "--idle-for", "1h"], "--idle-for needs part times"),
        (["clean", "--format", "json"], "add --yes or --dry-run"),
        (["scan", "--price-per-gb-month", "-1"], "expected a price per GB-month"),
        (["scan", "--group-by", "prefix:0"], "expected prefix:N (N >= 1)"),
        (["report", "--group-by", "age"], "prefix:N sets the depth"),
        (["report", "-o", "/no/such/dir/r.html"], "the directory of '/no/such/dir/r.html'"),
        (["frobnicate"], "No such command"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, args, needle):
    res = cli(args, env={"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})
    assert res.code == 2, res.stderr
    assert needle in res.stderr
    assert "Traceback" not in res.stderr


def test_no_credentials_without_a_terminal_exits_5(cli):
    res = cli(["scan", "--endpoint-url", "http://127.0.0.1:9"], env=NO_CREDS)
    assert res.code == 5
    assert "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_credentials_prompt_in_a_terminal(cli, moto_backend):
    made = Buckets(moto_backend)
    bucket = made.new()
    env = {
        **NO_CREDS,
        "AWS_ENDPOINT_URL": moto_backend.endpoint_url,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    res = cli(
        ["scan", bucket, "--format", "json"],
        env=env,
        input="AKIDPROMPTED\ns3cr3t-typed\n",
        terminal=True,
    )
    assert res.code == 0, res.stderr
    assert "Access Key" in res.stderr
    assert "Secret Key" in res.stderr
    assert "s3cr3t-typed" not in res.stderr + res.stdout  # not echoed
    assert res.json()["buckets"][0]["bucket"] == bucket
    made.cleanup()


def test_demo_runs_the_seed_flow_and_stops_its_server(cli):
    import threading

    before = threading.active_count()
    res = cli(["demo", "--yes"])
    assert res.code == 0, res.stderr
    for bucket in ("homemovies", "operatingsystemimages", "workbackup"):
        assert f"Bucket: {bucket}" in res.stdout
    assert res.stdout.count("MPU data deleted!") == 2
    assert "No changes made to bucket." in res.stdout
    # Each bucket's outcome follows its own table, even though aborts overlap the scan.
    out = res.stdout
    assert (
        out.index("Bucket: homemovies")
        < out.index("MPU data deleted!")
        < out.index("Bucket: operatingsystemimages")
        < out.rindex("MPU data deleted!")
        < out.index("Bucket: workbackup")
    )

    assert "aborted 8 (14.17GB, 14.2 GiB freed)" in res.stdout
    assert threading.active_count() <= before + 1
    # The help announces what the demo then frees (it said 14.16GB).
    assert "8 uploads (14.17GB)" in " ".join(cli(["demo", "--help"]).stdout.split())


#: The help page's example as it printed it: (initiated, key, bytes), per bucket.
PAGE = {
    "homemovies": [
        ("2016-02-12T14:08:40.000Z", "1986 - merry xmas.ts", 1174405120),
        ("2016-01-19T14:18:19.000Z", "1994 alaska trip.ts", 251658240),
        ("2016-02-23T14:41:23.000Z", "1994 alaska trip.ts", 943718400),
        ("2016-01-19T20:35:30.000Z", "1994 alaska trip.ts", 2384317892),
        ("2016-01-20T20:57:49.000Z", "1994 alaska trip.ts", 1195376640),
    ],
    "operatingsystemimages": [
        ("2015-05-11T18:01:46.000Z", "coreos_production_iso_image.iso", 150994944),
        ("2015-05-11T18:00:36.000Z", "coreos_production_iso_image.iso", 150994944),
        ("2016-02-12T15:04:08.000Z", "win7.vdi", 8965324800),
    ],
}


def test_demo_shows_the_help_pages_uploads_and_leaves_nothing_behind(tmp_path):
    """The page's times and sizes (moto's fixed 2010-11-10 and sizes scaled down 1024 times
    were shown before), workbackup empty, and no folder or lock file left after the run."""
    tmp, state = tmp_path / "tmp", tmp_path / "state"
    tmp.mkdir()
    env = {"TMPDIR": str(tmp), "XDG_STATE_HOME": str(state)}
    res = mpusweep_command(["demo", "--yes"], env=env)
    assert res.code == 0, res.stderr
    out = res.stdout
    for bucket, rows in PAGE.items():
        block = out.split(f"Bucket: {bucket}", 1)[1].split("Total:", 1)[0]
        for initiated, key, size in rows:
            (line,) = [x for x in block.splitlines() if x.startswith(initiated)]
            assert key in line and f" {size} " in line, line
    assert "1.09GB" in out and "Total: 5.54GB (5 uploads, 5949476292 bytes)" in out
    assert "Bucket: workbackup\nTotal: 0.00GB (0 uploads, 0 bytes)" in out
    assert "2010-11-10" not in out and "read GB as MB" not in res.stderr
    assert "aborted 8 (14.17GB, 14.2 GiB freed)" in out
    assert list(tmp.iterdir()) == []
    assert not state.exists() or [p for p in state.rglob("*") if p.is_file()] == []


def test_demo_interactive_answers(cli):
    res = cli(["demo"], input="y\nn\n")
    assert res.code == 0, res.stderr
    assert res.stdout.count("MPU data deleted!") == 1
    assert "aborted 5" in res.stdout
    assert "declined 3" in res.stdout
    assert "operatingsystemimages" in res.stdout


def test_unknown_profile_is_one_line_exit_5(cli):
    res = cli(["scan", "--profile", "nope"], env=NO_CREDS)
    assert res.code == 5
    assert "profile 'nope' not found" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_unknown_profile_from_the_environment_is_named(cli):
    res = cli(["scan"], env={**NO_CREDS, "AWS_PROFILE": "nosuch"})
    assert res.code == ExitCode.CREDENTIALS
    assert "profile 'nosuch' not found (named by AWS_PROFILE)" in res.stderr
    assert "None" not in res.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--endpoint-url", "127.0.0.1:9000"], "write it with its scheme, e.g. http://127.0.0.1"),
        (["--endpoint-url", "localhost:9000"], "e.g. http://localhost:9000"),
        (["--endpoint-url", "--yes"], "got the option '--yes': write --endpoint-url http://"),
        (["--endpoint-url", "ftp://host"], "only http:// and https://"),
    ],
)
def test_bad_endpoint_url_is_a_usage_error(args, needle):
    """Through the console script, as typed: exit 2 and what to write, not an internal error."""
    res = mpusweep_command(
        ["clean", *args], env={"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    )
    assert res.code == ExitCode.USAGE, res.stderr
    assert needle in " ".join(res.stderr.split())
    assert "internal error" not in res.stderr


def test_profile_with_endpoint_url_is_honoured(cli, moto_backend, tmp_path):
    """A profile's endpoint_url and keys, read by botocore itself."""
    config = tmp_path / "config"
    config.write_text(
        f"[profile lab]\nregion = us-east-1\nendpoint_url = {moto_backend.endpoint_url}\n"
    )
    creds = tmp_path / "credentials"
    creds.write_text("[lab]\naws_access_key_id = a\naws_secret_access_key = b\n")
    env = {
        **NO_CREDS,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(creds),
        "AWS_ENDPOINT_URL": None,
    }
    made = Buckets(moto_backend)
    bucket = made.new()
    res = cli(["scan", bucket, "--profile", "lab", "--format", "json"], env=env)
    made.cleanup()
    assert res.code == 0, res.stderr
    assert res.json()["buckets"][0]["bucket"] == bucket


def test_endpoint_url_s3_variable_is_honoured(cli, moto_backend):
    env = {
        "AWS_ACCESS_KEY_ID": "a",
        "AWS_SECRET_ACCESS_KEY": "b",
        "AWS_DEFAULT_REGION": "x",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ENDPOINT_URL_S3": moto_backend.endpoint_url,
    }
    made = Buckets(moto_backend)
    bucket = made.new()
    res = cli(["scan", bucket, "--format", "json"], env=env)
    made.cleanup()
    assert res.code == 0, res.stderr
    assert res.json()["buckets"][0]["bucket"] == bucket


def test_tls_is_verified_by_default():
    from mpusweep.s3 import Connection, S3Reader

    s3 = S3Reader(Connection(endpoint_url="https://127.0.0.1:9", access_key="a", secret_key="b"))
    assert s3.client._endpoint.http_session._verify is True
    insecure = S3Reader(
        Connection(
            endpoint_url="https://127.0.0.1:9", access_key="a", secret_key="b", verify_ssl=False
        )
    )
    assert insecure.client._endpoint.http_session._verify is False


COMMANDS = [
    [],
    ["scan"],
    ["clean"],
    ["report"],
    ["doctor"],
    ["history"],
    ["demo"],
    ["lifecycle", "status"],
    ["lifecycle", "apply"],
    ["lifecycle", "remove"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c) or "top")
def test_help_fits_80_columns_under_headings(command):
    """Through the console script at 80 columns: no line wider (the exit codes broke
    mid-word), the options under headings rather than one flat list of 31-34 (--processes
    after --debug), no project-internal words."""
    res = mpusweep_command([*command, "--help"], env={"COLUMNS": "80"})
    assert res.code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, [x for x in lines if len(x) > 80]
    assert "seed" not in res.stdout.lower()
    headings = [line[:-1] for line in lines if line and line[0] != " " and line.endswith(":")]
    order = [title for title, _ in HELP_SECTIONS] + [OTHER_SECTION]
    grouped = [h for h in headings if h in order]
    assert grouped == sorted(grouped, key=order.index), headings
    if command and command[0] in ("scan", "clean", "report"):
        assert grouped[0] == "What to look at" and grouped[-1] == OTHER_SECTION, headings
        assert "Options" not in headings
        tuning = res.stdout.split("\nTuning:\n", 1)[1].split("\n\n", 1)[0]
        assert "--processes" in tuning and "--concurrency" in tuning
    sections = res.stdout.split("\n\n")
    for section in sections:
        options = [x for x in section.splitlines() if x.startswith("  --")]
        assert len(options) <= 12, section


def test_top_level_help_says_where_to_start():
    res = mpusweep_command(["--help"], env={"COLUMNS": "80"})
    start = res.stdout.split("Where to start:", 1)[1].split("\n\n", 1)[0]
    commands = [line.split("#")[0].strip() for line in start.splitlines() if line.strip()]
    assert commands == [
        "mpusweep demo",
        "mpusweep doctor",
        "mpusweep scan",
        "mpusweep clean --dry-run",
        "mpusweep clean",
    ]


def test_a_file_is_a_file_in_every_help():
    """The history file was FILE in one command and PATH in another."""
    for command in (["scan"], ["clean"], ["report"], ["history"]):
        res = mpusweep_command([*command, "--help"], env={"COLUMNS": "200"})
        assert "--history FILE" in res.stdout, command
        assert " PATH " not in res.stdout, command
