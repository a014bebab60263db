"""The root of every error the package raises on purpose, so ``except zoadamm.ZoadammError``
catches them all: bad arguments (``InvalidArgument``), an objective's bad value
(``ObjectiveError``) and the SDK's ``APIError`` tree.

It lives apart from the SDK so that the math can raise it without importing httpx.
"""

from __future__ import annotations


class ZoadammError(Exception):
    """Anything zoadamm reports on purpose: a refused argument or a failed call to the service."""


class InvalidArgument(ZoadammError, ValueError):
    """An argument is out of its documented range (the service maps it to HTTP 422).

    Also a ``ValueError``, so code that caught ``ValueError`` keeps working."""


class ObjectiveError(ZoadammError, ValueError):
    """The objective ``minimize`` evaluates returned something other than one finite number.

    Also a ``ValueError``, as this was before it had a class of its own."""
