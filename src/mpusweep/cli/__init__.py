"""The ``mpusweep`` command: options in, models to the core, reports out, errors to exit codes.

Exit codes (also in ``mpusweep --help`` and the README):

\b
  0   success
  1   internal error (a bug; rerun with --debug and report it)
  2   usage error: bad option, duration, glob, or a confirmation that cannot be asked
  3   partial: some bucket or upload failed, the others were done; re-run to finish
  4   --fail-if-found and at least one upload matched
  5   no usable credentials, or the service rejected them
  6   the endpoint cannot be reached
  130 interrupted (Ctrl-C);  143 terminated (SIGTERM)
"""

from __future__ import annotations

import signal
import sys
import traceback
from types import FrameType
from typing import NoReturn

import click
from rich.console import Console

from .. import __version__
from ..errors import ExitCode, MpuSweepError
from ..redact import install_debug_logging
from .clean_cmd import clean_command, demo
from .common import Env
from .lifecycle_cmd import lifecycle
from .scan_cmd import scan

__all__ = ["Env", "Terminated", "cli", "main"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so every cleanup path runs; exits 143."""


# -- commands --------------------------------------------------------------------------------
@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
)
@click.version_option(__version__, prog_name="mpusweep")
def cli() -> None:
    """Find, size, report and safely remove incomplete S3 multipart uploads.

    Works with AWS S3 and S3-compatible services (Ceph RGW / DreamObjects, MinIO, Wasabi,
    Backblaze B2, Cloudflare R2). Credentials come from the usual AWS chain (environment,
    ~/.aws files, --profile, SSO, roles); in a terminal you are asked for them if none are found.
    """


cli.add_command(scan)
cli.add_command(clean_command)
cli.add_command(lifecycle)
cli.add_command(demo)


# -- entry point -----------------------------------------------------------------------------
def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> NoReturn:
    """Console entry point: run the CLI and exit with a documented code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        install_debug_logging()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    err = Console(stderr=True, highlight=False)
    try:
        code = cli.main(args=args, prog_name="mpusweep", standalone_mode=False)
    except click.exceptions.Abort as exc:
        terminated = isinstance(exc.__cause__, Terminated)
        err.print("interrupted" if not terminated else "terminated", markup=False)
        code = ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()
        code = ExitCode.OK
    except click.ClickException as exc:
        exc.show()
        code = ExitCode.USAGE if exc.exit_code == 2 else exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except MpuSweepError as exc:
        if debug:
            traceback.print_exc()
        err.print(f"mpusweep: error: {exc}", markup=False, style="red", soft_wrap=True)
        code = exc.exit_code
    except Exception as exc:
        if debug:
            traceback.print_exc()
        err.print(
            f"mpusweep: internal error: {type(exc).__name__}: {exc} "
            "(rerun with --debug for the traceback)",
            markup=False,
            soft_wrap=True,
        )
        code = ExitCode.ERROR
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(int(code or 0))
