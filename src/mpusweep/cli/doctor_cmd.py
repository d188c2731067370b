"""``mpusweep doctor``: what works against an endpoint, checked before any cleanup."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from ..doctor import Check, Setup, Verdict, failed, run_doctor
from ..errors import ExitCode
from ..redact import public_endpoint
from ..report import service_text
from ..report.documents import doctor_document, doctor_targets_document
from ..report.machine import write_json
from ..report.targets import print_target_heading
from ..s3.probe import S3Probe, credential_source, tls_setup
from ..settings import RunSettings, TargetSettings
from .common import Env, command_env
from .connect import connection_setup
from .options import connection_options, target_options
from .to_settings import read_settings
from .unattended import resolve_targets

_STYLE = {Verdict.OK: "green", Verdict.WARN: "yellow", Verdict.FAIL: "red", Verdict.UNKNOWN: ""}


@click.command()
@click.argument("buckets", nargs=-1, metavar="[BUCKET]...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people; json for programs.",
)
@target_options
@connection_options
def doctor(**opts: Any) -> ExitCode:
    """Check what works against your endpoint, before any cleanup. Never writes.

    One line per check, each with a verdict (ok, warn, fail, unknown) and the fix where one
    is needed: credentials (where from, never their values), the endpoint and its TLS, this
    machine's clock against the service's Date, the server and preset, the credentials
    accepted, then per bucket the permissions scan and clean need (s3:ListAllMyBuckets,
    s3:ListBucketMultipartUploads, s3:ListMultipartUploadParts, s3:AbortMultipartUpload,
    s3:GetLifecycleConfiguration), and the addressing style.

    The abort permission is proven by aborting an upload that cannot exist (a made-up random
    key and upload id): the service answers NoSuchUpload when the permission is there and
    AccessDenied when it is not. s3:PutLifecycleConfiguration is never tried: it would write.
    BUCKET may be a name or a glob; none: the first 10 buckets listed. Configured targets
    are checked one after another, each with its own buckets (an organization: each
    account, through its role).

    \b
    Examples:
      mpusweep doctor
      mpusweep doctor --provider r2 --account-id 0123abcd my-bucket
      mpusweep doctor --provider dreamobjects 'backup-*' --format json
      mpusweep doctor --target backups
    """
    run = read_settings("doctor")
    env = command_env(run.now)
    text = run.output.fmt == "text"
    configured = run.targets.configured
    parts: list[tuple[TargetSettings, Setup | None, list[Check]]] = []
    for target in resolve_targets(env, run):
        if configured and text:
            print_target_heading(env.out, target.name, None, target.account_name)
        if target.failure is not None:
            # An organization whose accounts could not be listed: that is this target's check.
            check = Check("organization accounts", Verdict.FAIL, str(target.failure), _ORG_FIX)
            if text:
                _print_check(env, check)
            parts.append((target, None, [check]))
            continue
        parts.append((target, *_check_target(env, run, target, text)))
    every = [c for _, _, checks in parts for c in checks]
    if not text:
        if configured:
            document = doctor_targets_document(
                [(t.name, t.account_name, setup, checks) for t, setup, checks in parts]
            )
        else:
            ((_, own, checks),) = parts
            assert own is not None  # the command line's own target is never a failure
            document = doctor_document(own, checks)
        write_json(document, env.out.file)
    else:
        _print_summary(env, every)
    return ExitCode.CHECK_FAILED if failed(every) else ExitCode.OK


#: How to fix an organization target whose accounts could not be listed.
_ORG_FIX = (
    "let the target's profile call organizations:ListAccounts (the management account or a "
    "delegated administrator); docs/unattended.md, An organization's accounts"
)


def _check_target(
    env: Env, run: RunSettings, target: TargetSettings, text: bool
) -> tuple[Setup, list[Check]]:
    """Every check against one target's service and buckets, printed as they come in text."""
    resolved = connection_setup(target.connection)
    offset = run.now - datetime.now(UTC) if run.now else None

    def clock() -> datetime:
        # --now pretends this machine's clock reads that time now (to show the clock check).
        now = datetime.now(UTC)
        return now + offset if offset is not None else now

    probe = S3Probe(resolved.conn, resolved.session, clock=clock)
    setup = Setup(
        endpoint_url=probe.endpoint_url,
        endpoint_origin=resolved.endpoint_origin,
        provider=resolved.conn.provider,
        provider_origin=resolved.provider_origin,
        region=probe.transport.region,
        addressing_style=probe.addressing_style,
        addressing_origin=resolved.addressing_origin,
        tls=tls_setup(resolved.conn, resolved.session, probe.endpoint_url),
        credentials=credential_source(resolved.session),
        quirks=resolved.conn.quirks,
    )
    checks: list[Check] = []
    if text:
        _print_header(env, setup)
    current: str | None = None
    for check in run_doctor(probe, setup, target.selection.buckets):
        checks.append(check)
        if text:
            if check.bucket != current and check.bucket is not None:
                env.out.print(f"bucket {check.bucket}", markup=False, highlight=False)
            current = check.bucket
            _print_check(env, check)
    return setup, checks


def _print_header(env: Env, setup: Setup) -> None:
    preset = f", preset {setup.provider} ({setup.provider_origin})" if setup.provider else ""
    env.out.print(
        f"mpusweep doctor: {public_endpoint(setup.endpoint_url)}, region {setup.region}{preset}",
        markup=False,
        highlight=False,
    )


def _print_check(env: Env, check: Check) -> None:
    indent = "  " if check.bucket else ""
    env.out.print(
        f"{indent}{check.verdict.value:<8}{check.name:<32}{service_text(check.detail)}",
        style=_STYLE[check.verdict],
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if check.fix:
        env.out.print(
            f"{indent}{'':<8}fix: {service_text(check.fix)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _print_summary(env: Env, checks: list[Check]) -> None:
    counts = {v: sum(c.verdict is v for c in checks) for v in Verdict}
    env.out.print(
        f"{counts[Verdict.OK]} ok, {counts[Verdict.WARN]} warnings, "
        f"{counts[Verdict.FAIL]} failed, {counts[Verdict.UNKNOWN]} unknown",
        markup=False,
        highlight=False,
    )
