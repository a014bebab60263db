"""What every zoadamm command shares: how it reads its command line and how it ends.

- ``--help`` shows each option's default.  A bad command line is one line on stderr
  (``prog: what is wrong (see prog --help)``) and exit status 1, as every other failure is,
  instead of argparse's usage block and status 2.
- ``--version`` on every command (``add_version``) and ``--debug`` on every command that runs
  something (``add_debug``): the traceback instead of the one line.
- ``run`` turns the failures a user can cause into that one line.  Ctrl-C and SIGTERM end a
  command the same way, as a KeyboardInterrupt, so its ``finally`` blocks run (a service the
  command started is stopped, the tell in flight lands) and it prints how to continue.

The worker's commands (``zoadamm-worker``, ``zoadamm-demo``, ``zoadamm-experiments``) use it
too: the service package is the one all of them depend on.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import math
import re
import signal
import socket
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import NoReturn

from zoadamm.wire import SAFE_INT

EXIT_FAILED = 1


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written, and "(default: X)" after every option that has one and does
    not already say it; a flag (off unless given) and an option without default show none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        quiet = unset or action.required or not action.option_strings or "default" in text
        return text if quiet else f"{text} (default: %(default)s)"


# A negative number as ``float()`` writes it: digits with optional underscores, a leading or
# trailing dot, an exponent, or inf/infinity/nan in any case.  argparse's own pattern knows only
# -1 and -1.5, and reads any other word that starts with "-" (-1e-3, -.5, -inf) as an option.
_DIGITS = r"\d(?:_?\d)*"
NEGATIVE_NUMBER = re.compile(
    rf"^-(?:(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?|(?i:inf|infinity|nan))$")


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line and exit status 1, whose help shows the
    defaults, which takes no abbreviated options (``--dir`` is not ``--directions``), and which
    reads every negative number ``float()`` reads as a value (``--lower -1e-3`` is a bound, and
    ``--lower -inf`` reaches the check that says "finite"), not as an option.  Its subcommands'
    parsers are of the same kind."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_NUMBER  # argparse's hook for what looks negative

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_FAILED, f"{self.prog}: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        """argparse's, but words it does not know are refused by the command they were given to
        (``zoadamm-worker rest: ... (see zoadamm-worker rest --help)``), with the option each
        was likely meant to be: ``--servce`` is ``--service``."""
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            chosen = _command(self, parsed)
            options = [o for action in chosen._actions for o in action.option_strings if o.startswith("--")]
            meant = [difflib.get_close_matches(word.split("=")[0], options, n=1, cutoff=0.75)
                     for word in unknown if word.startswith("--")]
            hints = [found[0] for found in meant if found]
            chosen.error(f"unrecognized arguments: {' '.join(unknown)}"
                         + (f" (did you mean {', '.join(hints)}?)" if hints else ""))
        return parsed


def _command(parser: argparse.ArgumentParser, parsed: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command's parser that ``parsed`` went through: the words after its name are its."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and getattr(parsed, action.dest, None) in action.choices:
            return _command(action.choices[getattr(parsed, action.dest)], parsed)
    return parser


def add_version(parser: argparse.ArgumentParser, distribution: str) -> None:
    """``--version``: the command's name and the version of the package that installed it."""
    try:
        number = version(distribution)
    except PackageNotFoundError:  # run from a source tree that was never installed
        number = "unknown (not installed)"
    parser.add_argument("--version", action="version", version=f"%(prog)s {number}",
                        help="print the version and exit")


def add_debug(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of a failure instead of one line")


def positive(kind: type) -> Callable[[str], int | float]:
    """An argparse ``type``: a number of ``kind`` (int or float) greater than 0."""
    return _bounded(kind, 0, inclusive=False)


def at_least(kind: type, low: int | float) -> Callable[[str], int | float]:
    """An argparse ``type``: a number of ``kind`` that is ``low`` or more."""
    return _bounded(kind, low, inclusive=True)


def seed(text: str) -> int:
    """An argparse ``type``: a seed, an integer from 0 to 2^53 - 1, what a session's seed takes
    (a larger one failed deep in torch, in a traceback)."""
    value = int(at_least(int, 0)(text))
    if value > SAFE_INT:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2^53 - 1 = {SAFE_INT:,}, got {text!r}")
    return value


def _bounded(kind: type, low: int | float, *, inclusive: bool) -> Callable[[str], int | float]:
    noun = "an integer" if kind is int else "a number"
    bound = f">= {low}" if inclusive else f"> {low}"

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value >= low if inclusive else value > low)):
            raise argparse.ArgumentTypeError(f"expected {noun} {bound}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some of its messages
    return parse


class _Terminated(KeyboardInterrupt):
    """SIGTERM, delivered as Ctrl-C is: the command stops through its ``finally`` blocks."""


def _on_sigterm(signum: int, frame: object) -> NoReturn:
    raise _Terminated


def stopped_status(stop: KeyboardInterrupt) -> int:
    """The exit status of a command that ``stop`` ended: 130 after Ctrl-C, 143 after SIGTERM."""
    by_sigterm = isinstance(stop, _Terminated) or isinstance(stop.__context__, _Terminated)
    return 128 + (signal.SIGTERM if by_sigterm else signal.SIGINT)


def run(prog: str, command: Callable[[], int], *, debug: bool,
        explain: Callable[[Exception], str | None],
        interrupted: Callable[[KeyboardInterrupt], str] = lambda stop: "interrupted") -> int:
    """``command()``'s exit status, with a failure a user can cause turned into one line.

    ``explain(error)`` gives that line, or None for an error that is a bug (its traceback
    shows); ``--debug`` (``debug``) shows every traceback.  Ctrl-C or SIGTERM print
    ``interrupted(stop)`` and give 130 or 143, as a shell reports a process ended by that signal.
    """
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return command()
    except KeyboardInterrupt as stop:
        if debug:
            raise
        print(f"{prog}: {interrupted(stop)}", file=sys.stderr)
        return stopped_status(stop)
    except Exception as error:
        line = None if debug else explain(error)
        if line is None:
            raise
        print(f"{prog}: {line} (--debug shows the traceback)", file=sys.stderr)
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)


def cannot_listen(host: str, port: int) -> str | None:
    """Why a server cannot listen on ``host``:``port`` (None when it can), which uvicorn says in a
    log line among others before it exits 0 or 3.  ``port`` 0 checks the host alone (a name that
    does not resolve, an address not this machine's)."""
    try:
        family, *_, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        socket.create_server(address, family=family, reuse_port=False).close()
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return f"port {port} on {host} is in use (by another service?): pick another with --port"
        reason = str(error.strerror).split(" (while attempting")[0]  # the address follows, as below
        return f"--host {host}{f' --port {port}' * bool(port)}: cannot listen there ({reason})"
    return None
