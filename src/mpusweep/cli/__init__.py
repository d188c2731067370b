"""The ``mpusweep`` command: options in, models to the core, reports out, errors to exit codes."""

from __future__ import annotations

import signal
import sys
import textwrap
import traceback
from types import FrameType
from typing import NoReturn

import click

from .. import __version__
from ..errors import ExitCode, MpuSweepError, Terminated
from ..redact import install_debug_logging
from ..runreport import error_text, exit_code_of
from .clean_cmd import clean_command
from .common import Env
from .demo_cmd import demo
from .doctor_cmd import doctor
from .help_sections import section_help
from .history_cmd import history_command
from .lifecycle_cmd import lifecycle
from .report_cmd import report_command
from .scan_cmd import scan
from .serve_cmd import serve

__all__ = ["Env", "Terminated", "cli", "main"]


#: The exit-code table's width: it is written as it stands (``\b``), so it is wrapped here to
#: fit an 80-column terminal, after click's two-space indent.
EPILOG_WIDTH = 76


def exit_codes_epilog() -> str:
    """The exit-code table of ``--help``, made from ``ExitCode``, each code's text wrapped
    between words under its own column."""
    rows = []
    for code, text in ExitCode.table():
        lines = textwrap.wrap(
            text.replace("`", ""),
            width=EPILOG_WIDTH,
            initial_indent=f"  {code:<4}",
            subsequent_indent=" " * 6,
            break_long_words=False,
            break_on_hyphens=False,
        )
        rows.extend(lines)
    body = "\n".join(rows)
    return f"Exit codes:\n\n\b\n{body}"


# -- commands --------------------------------------------------------------------------------
@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=exit_codes_epilog(),
)
@click.version_option(__version__, prog_name="mpusweep")
def cli() -> None:
    """Find, size, report and safely remove incomplete S3 multipart uploads.

    \b
    Where to start:
      mpusweep demo              # the whole flow on a local server of its own
      mpusweep doctor            # can your keys list, size and abort?
      mpusweep scan              # read-only: the uploads, sized, per bucket
      mpusweep clean --dry-run   # what a clean would abort, what it keeps
      mpusweep clean             # asks per bucket, aborts, keeps an audit log

    Works with AWS S3 and S3-compatible services (Ceph RGW / DreamObjects, MinIO, Wasabi,
    Backblaze B2, Cloudflare R2). Credentials come from the usual AWS chain (environment,
    ~/.aws files, --profile, SSO, roles); in a terminal you are asked for them if none are found.
    """


cli.add_command(scan)
cli.add_command(clean_command)
cli.add_command(report_command)
cli.add_command(lifecycle)
cli.add_command(demo)
cli.add_command(doctor)
cli.add_command(history_command)
cli.add_command(serve)
section_help(cli)


# -- entry point -----------------------------------------------------------------------------
def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def main(argv: list[str] | None = None, env: Env | None = None) -> NoReturn:
    """Console entry point: run the CLI and exit with a documented code.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        env: the streams, clock and terminal checks (default: this process's own).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    env = env or Env.default()
    debug = "--debug" in args
    if debug:
        install_debug_logging()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = cli.main(args=args, prog_name="mpusweep", standalone_mode=False, obj=env)
    except (KeyboardInterrupt, click.exceptions.Abort) as exc:
        # Click's Abort (Ctrl-C at a prompt) carries the signal as its cause, if any.
        cause = exc if isinstance(exc, KeyboardInterrupt) else exc.__cause__
        stopped = cause if isinstance(cause, KeyboardInterrupt) else KeyboardInterrupt()
        code = exit_code_of(stopped)
        env.err.print(error_text(stopped), markup=False)
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
        env.err.print(f"mpusweep: error: {exc}", markup=False, style="red", soft_wrap=True)
        code = exit_code_of(exc)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        env.err.print(
            f"mpusweep: internal error: {type(exc).__name__}: {exc} "
            "(rerun with --debug for the traceback)",
            markup=False,
            soft_wrap=True,
        )
        code = exit_code_of(exc)
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(int(code or 0))
