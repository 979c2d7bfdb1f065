"""The ``lrlab`` entry point: builds the Typer app and turns errors into one-line messages.

Each subcommand lives in its own module and is a thin layer over a public function. Errors
that lrlab raises on purpose (:class:`lrlab.errors.LrlabError`), usage errors and failures
to read or write a file (``OSError``: disk full, read-only, permission) print as one line on
stderr with exit code 2 (1 for runtime failures such as divergence and for file errors);
``--debug`` shows the traceback. Ctrl-C exits with 130 and SIGTERM with 143, after the
command has saved what it finished and said so in one line.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence

import typer

from lrlab import __version__
from lrlab.errors import Diverged, Interrupted, LrlabError, OutputError, describe_os_error
from lrlab.signals import terminate_as_interrupt, was_terminated

try:  # typer >= 0.2x carries its own click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.exceptions import UsageError

# command name -> "module:function"; the order is the order of `lrlab --help`.
COMMANDS: dict[str, str] = {
    "find": "lrlab.cli.find:find",
    "schedule": "lrlab.cli.schedule:schedule",
    "train": "lrlab.cli.train:train",
    "compare": "lrlab.cli.compare:compare",
    "scan": "lrlab.cli.scan:scan_command",
    "tasks": "lrlab.cli.tasks:tasks",
    "report": "lrlab.cli.report:report",
    "demo": "lrlab.cli.demo:demo",
}

app = typer.Typer(
    name="lrlab",
    help="A learning-rate laboratory for PyTorch: find, schedule, scan and prove.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lrlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """A learning-rate laboratory for PyTorch: find, schedule, scan and prove."""


for _name, _target in COMMANDS.items():
    _module, _func = _target.split(":")
    app.command(_name)(getattr(importlib.import_module(_module), _func))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (the console script passes it to ``sys.exit``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        with terminate_as_interrupt():
            code = app(args=args, prog_name="lrlab", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except UsageError as exc:
        if exc.ctx is not None and not exc.format_message():  # no arguments: the help
            print(exc.ctx.get_help())
            return 2
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        return _fail(f"lrlab: error: {exc.format_message()}{where}", debug, 2)
    except (KeyboardInterrupt, Interrupted) as exc:
        message = str(exc) if isinstance(exc, Interrupted) else "Interrupted."
        if was_terminated(exc):
            return _fail(f"lrlab: {message} (SIGTERM)", debug, 143)
        return _fail(f"lrlab: {message}", debug, 130)
    except LrlabError as exc:
        runtime = isinstance(exc, (Diverged, OutputError))  # not the user's input: exit 1
        return _fail(f"lrlab: error: {exc}", debug, 1 if runtime else 2)
    except OSError as exc:  # a file lrlab could not read or write: say which, and what to do
        return _fail(f"lrlab: error: {describe_os_error(exc)}", debug, 1)


def _fail(line: str, debug: bool, code: int) -> int:
    """Print the one line of a failed command (the traceback first under ``--debug``)."""
    if debug:
        traceback.print_exc()
    print(line, file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
