"""What every racer command shares: JSON on stdout, people's words on stderr.

plumbum prints help and usage errors to stdout; in a pipe of JSON commands the
next stage would read them as input, so this base class sends them to stderr.
Every error is caught once here: one line on stderr, one JSON document on
stdout, a non-zero exit code; `--debug` shows the traceback.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import sys
import traceback

from plumbum import cli
from plumbum.cli.application import ShowCompletion, ShowHelp, ShowHelpAll, ShowVersion
from plumbum.cli.switches import SwitchError

from .errors import USAGE, BadInput, PreviousFailed, RacerError, UsageError

log = logging.getLogger("racer")


class Output:
    """The real stdout, kept while plumbum's own printing goes to stderr."""

    stream = None


class PlumbumChatter:
    """Where plumbum's own printing goes: stderr, or nowhere once racer has
    reported a usage error in its own words."""

    quiet = False

    def write(self, text: str) -> int:
        return len(text) if self.quiet else sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def emit(doc) -> None:
    stream = Output.stream or sys.stdout
    stream.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    stream.flush()


def emit_text(text: str) -> None:
    """Plain text for people, where the output is not a document (a Dockerfile)."""
    stream = Output.stream or sys.stdout
    stream.write(text)
    stream.flush()


def read_input() -> dict:
    """The previous command's document, or a clear error when there is none."""
    if sys.stdin is None or sys.stdin.isatty():
        raise BadInput("no input: pipe the previous command's JSON into this one")
    text = sys.stdin.read()
    if not text.strip():
        raise BadInput("the previous command produced no output")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        raise BadInput(
            "the input is not a JSON document: did the previous command fail?"
        ) from None
    if not isinstance(doc, dict):
        raise BadInput("the input is not a JSON object")
    if isinstance(doc.get("error"), dict):
        raise PreviousFailed(doc)
    return doc


def setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("racer")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    root.propagate = False


def _check_arguments(execute, args: tuple) -> None:
    try:
        inspect.signature(execute).bind(*args)
    except TypeError:
        wanted = [p.upper() for p in inspect.signature(execute).parameters]
        raise UsageError(
            f"expected {len(wanted)} argument(s) ({' '.join(wanted) or 'none'}), "
            f"got {len(args)}"
        ) from None


def _exit_now(code: int) -> None:
    """Exit without the interpreter's shutdown.

    py-rattler's worker threads have crashed the interpreter as it shut down
    (SIGSEGV or abort after the output was written), turning a finished
    command's exit code into a crash. Everything is flushed, then the process
    ends here.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


class Command(cli.Application):
    """Base of racer's commands."""

    verbose = cli.Flag(
        ["-v", "--verbose"], help="Show progress, build output included, on stderr"
    )
    debug = cli.Flag(["--debug"], help="Show the traceback of an error")

    @classmethod
    def run(cls, argv=None, *, exit=True):
        owner = Output.stream is None
        if owner:
            Output.stream = sys.stdout
        try:
            with contextlib.redirect_stdout(PlumbumChatter()):
                inst, code = super().run(argv, exit=False)
        finally:
            if owner:
                Output.stream = None
                PlumbumChatter.quiet = False
        if exit:
            _exit_now(code)
        return inst, code

    # plumbum reports usage errors itself; these hooks add the JSON document
    # that a usage error still owes the pipe.
    def _parse_args(self, argv):
        with self._usage_errors_as_json():
            return super()._parse_args(argv)

    def _validate_args(self, swfuncs, tailargs):
        with self._usage_errors_as_json():
            return super()._validate_args(swfuncs, tailargs)

    @contextlib.contextmanager
    def _usage_errors_as_json(self):
        try:
            yield
        except (ShowHelp, ShowHelpAll, ShowVersion, ShowCompletion):
            raise
        except SwitchError as exc:
            # plumbum would print its message, a rule and the whole help; one
            # line and the JSON document are enough.
            print(f"{self.PROGNAME}: error: {exc}", file=sys.stderr)
            emit(UsageError(str(exc)).to_json())
            PlumbumChatter.quiet = True
            raise

    def main(self, *args):
        if self.nested_command:
            return 0
        setup_logging(self.verbose or self._parent_verbose())
        try:
            _check_arguments(self.execute, args)
            result = self.execute(*args)
        except PreviousFailed as exc:
            # Said once already, by the command that failed.
            emit(exc.doc)
            return exc.exit_code
        except RacerError as exc:
            return self.fail(exc)
        except KeyboardInterrupt:
            return self.fail(RacerError("interrupted"))
        except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback
            return self.fail(
                RacerError(f"unexpected error: {type(exc).__name__}: {exc}")
            )
        if isinstance(result, int):
            return result
        if result is not None:
            emit(result)
        return 0

    def _parent_verbose(self) -> bool:
        parent = getattr(self, "parent", None)
        return bool(parent is not None and getattr(parent, "verbose", False))

    def fail(self, exc: RacerError) -> int:
        if self.debug:
            traceback.print_exc()
        print(f"{self.PROGNAME or 'racer'}: error: {exc.message}", file=sys.stderr)
        emit(exc.to_json())
        return exc.exit_code

    def execute(self, *args):
        raise NotImplementedError


class Group(Command):
    """A command with subcommands only."""

    def main(self, *args):
        if args:
            print(
                f"{self.PROGNAME}: error: unknown command '{args[0]}'", file=sys.stderr
            )
            emit(UsageError(f"unknown command '{args[0]}'").to_json())
            return USAGE
        if not self.nested_command:
            self.help()
            emit(UsageError("a command is required").to_json())
            return USAGE
        return 0
