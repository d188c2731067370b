"""``mpusweep demo``: the seed's whole workflow against an embedded S3 server on 127.0.0.1."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from ..demo import SCALE, embedded_server, seed
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


@click.command()
@click.option("--yes", "-y", is_flag=True, help="Answer yes for every bucket.")
@click.option("--dry-run", is_flag=True, help="Show what would be aborted; send no write.")
def demo(yes: bool, dry_run: bool) -> ExitCode:
    """Run the whole clean flow against an embedded S3 server on 127.0.0.1.

    Starts moto's S3 server on a free loopback port, creates the seed's three buckets
    (homemovies, operatingsystemimages, workbackup) with incomplete uploads (sizes scaled
    down 1024 times), runs the interactive clean, and stops the server. Nothing leaves this
    machine.
    """
    env = command_env()
    audit_dir = Path(tempfile.mkdtemp(prefix="mpusweep-demo-"))
    with embedded_server() as conn:
        writer = S3Writer(conn, concurrency=DEMO_CONCURRENCY)
        seed(writer)
        env.err.print(
            f"Demo: an S3 server on {conn.endpoint_url} with the seed's buckets; sizes are "
            f"scaled down {SCALE}x, so read GB as MB.",
            markup=False,
        )
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
            recording=Recording(audit_log=audit_dir / "audit.jsonl"),
        )
        return run_clean(env, run, link)
