"""Ctrl-C in ``minimize``: the exception that says which call continues the run."""

from __future__ import annotations

import sys


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; every step told before it is kept by the service.

    ``str()`` is one line naming the session and what continues it.  It is a KeyboardInterrupt,
    so ``except KeyboardInterrupt`` catches it as before.  In a program (``Interrupted.of``) it is
    also a SystemExit carrying that line, so a program that does not catch it ends with the line
    on stderr (status 1) instead of a traceback of wherever the interrupt happened to land; at an
    interactive prompt (the REPL, ``python -i``, IPython, Jupyter) it is not, since a SystemExit
    there would end the interpreter and take the user's variables with it."""

    def __init__(self, message: str, session_id: str, step: int) -> None:
        super().__init__(message)
        self.session_id, self.step = session_id, step

    def __reduce__(self):  # through a process pool's pickling: made again from all three
        return type(self), (str(self), self.session_id, self.step)

    @classmethod
    def of(cls, message: str, session_id: str, step: int) -> Interrupted:
        """The interruption as this interpreter should end with it (see the class)."""
        return (cls if at_a_prompt() else InterruptedProgram)(message, session_id, step)


class InterruptedProgram(Interrupted, SystemExit):
    """An ``Interrupted`` that ends a program which does not catch it with its one line."""

    def __init__(self, message: str, session_id: str, step: int) -> None:
        super().__init__(message, session_id, step)
        self.code = message  # what the interpreter prints as it exits (status 1)


def at_a_prompt() -> bool:
    """Whether a user types at this interpreter: ``sys.ps1`` is set once the REPL prompts,
    ``-i`` is the flag of one that will, and IPython's shell is running in IPython and Jupyter."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", None)
    return hasattr(sys, "ps1") or bool(sys.flags.interactive) or (shell is not None and shell() is not None)
