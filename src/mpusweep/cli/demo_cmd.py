"""``mpusweep demo``: the clean flow against an embedded S3 server on 127.0.0.1."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ..demo import embedded_server
from ..errors import ExitCode
from ..filters import AgeFilter
from ..runner import DEFAULT_TARGET, Link
from ..s3 import S3Reader, S3Writer
from ..settings import (
    DEFAULT_CLEAN_OLDER_THAN,
    CleanPolicy,
    ConnectionSettings,
    Recording,
    RunSettings,
    ScanSettings,
    TargetSettings,
)
from .clean_cmd import run_clean
from .common import command_env

DEMO_CONCURRENCY = 8


@contextmanager
def _state_home(folder: Path) -> Iterator[None]:
    """The run's state (the endpoint lock, any default path) under ``folder``, for the
    demo's duration only: the demo's random port would leave a lock file per run."""
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            del os.environ["XDG_STATE_HOME"]
        else:
            os.environ["XDG_STATE_HOME"] = before


@click.command()
@click.option("--yes", "-y", is_flag=True, help="Answer yes for every bucket.")
@click.option("--dry-run", is_flag=True, help="Show what would be aborted; send no write.")
def demo(yes: bool, dry_run: bool) -> ExitCode:
    """Run the whole clean flow against an embedded S3 server on 127.0.0.1.

    The server holds the example of DreamObjects' help page on incomplete uploads: buckets
    homemovies and operatingsystemimages with 8 uploads (14.17GB) started in 2015 and 2016,
    and workbackup with none. mpusweep lists and sizes them, asks per bucket, aborts, checks
    and writes an audit log, then stops the server and removes what the run wrote. Nothing
    leaves this machine and nothing is left behind.
    """
    env = command_env()
    with (
        tempfile.TemporaryDirectory(prefix="mpusweep-demo-") as folder,
        _state_home(Path(folder)),
        embedded_server() as conn,
    ):
        env.err.print(
            f"Demo: an S3 server on {conn.endpoint_url} with the example of DreamObjects' "
            "help page; it and everything this run writes are gone when it ends.",
            markup=False,
        )
        writer = S3Writer(conn, concurrency=DEMO_CONCURRENCY)
        # A dry run holds no writer.
        link = (
            Link(S3Reader(conn, concurrency=DEMO_CONCURRENCY)) if dry_run else Link(writer, writer)
        )
        run = RunSettings(
            command="clean",
            target=TargetSettings(
                name=DEFAULT_TARGET,
                connection=ConnectionSettings(concurrency=DEMO_CONCURRENCY),
                scan=ScanSettings(age=AgeFilter(DEFAULT_CLEAN_OLDER_THAN)),
                clean=CleanPolicy(dry_run=dry_run, yes=yes),
            ),
            recording=Recording(audit_log=Path(folder) / "audit.jsonl", no_history=True),
        )
        code = run_clean(env, run, link)
    env.err.print(
        "Demo over: its server is stopped and its folder (the audit log above) removed; "
        "a real clean keeps its audit log.",
        markup=False,
    )
    return code
