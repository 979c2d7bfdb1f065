"""The ``lrlab`` entry point: builds the Typer app and turns errors into one-line messages.

Each subcommand lives in its own module and is a thin layer over a public function. Errors
that lrlab raises on purpose (:class:`lrlab.errors.LrlabError`) print as one line on stderr
with exit code 2 (1 for runtime failures such as divergence); ``--debug`` shows the
traceback. Ctrl-C exits with 130 after the command has saved what it finished.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence

import typer

from lrlab import __version__
from lrlab.errors import Diverged, Interrupted, LrlabError

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
        # Standalone mode lets Typer print usage errors (exit 2) and --help; it ends in
        # SystemExit, whose code is ours to return. Our own errors propagate to here.
        app(args=args, prog_name="lrlab")
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except (KeyboardInterrupt, Interrupted) as exc:
        if debug:
            traceback.print_exc()
        message = str(exc) if isinstance(exc, Interrupted) else "Interrupted."
        print(f"lrlab: {message}", file=sys.stderr)
        return 130
    except LrlabError as exc:
        if debug:
            traceback.print_exc()
        print(f"lrlab: error: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, Diverged) else 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
