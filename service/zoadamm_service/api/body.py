"""A request's body, read within its limits: its size, its time, its encoding and media type
(both checked before a byte is read), and the bytes of bodies the process receives at once."""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect
from starlette.types import Receive

from zoadamm import wire

from ..errors import RequestTimeout, ServiceBusy, TooLarge, Unsupported

JSON = "application/json"
MEDIA_TYPES = (JSON, wire.MEDIA_TYPE)


class BodyBytes:
    """The bytes of request bodies this process holds, at most ``limit``
    (``ZOADAMM_MAX_BODY_BYTES_IN_FLIGHT``): each byte from its arrival to the end of its call
    (a body that is in may still wait for its turn, ``admission.after_body``).  Past the limit
    a call gets 503 at once rather than wait for room: bodies waiting for each other's room
    would each hold a part of it.  Only bytes that came count: a Content-Length alone holds
    nothing, or headers sent by a few connections would shut every other tenant out.  And one
    tenant's bodies hold at most ``tenant_limit`` (``share``): a tenant that sends large bodies
    and stalls them shuts out no other tenant."""

    def __init__(self, limit: int, tenant_limit: int | None = None) -> None:
        self.limit, self.held = limit, 0
        self.tenant_limit = limit if tenant_limit is None else tenant_limit
        self.by_tenant: dict[str, int] = {}

    @staticmethod
    def share(limit: int, max_body: int, tenants: int) -> int | None:
        """A tenant's share where several tenants use the process: half of ``limit``, and at
        least one body of the largest size; None (the whole) for one tenant."""
        return max(limit // 2, min(max_body, limit)) if tenants > 1 else None

    def take(self, size: int, tenant: str | None = None) -> None:
        if self.held + size > self.limit:
            raise ServiceBusy(f"this process holds {self.held:,} bytes of request bodies, and {size:,} more "
                              f"would pass ZOADAMM_MAX_BODY_BYTES_IN_FLIGHT ({self.limit:,}); retry")
        if tenant is not None and self.tenant_limit < self.limit:
            mine = self.by_tenant.get(tenant, 0)
            if mine + size > self.tenant_limit:
                raise ServiceBusy(f"this tenant's calls hold {mine:,} bytes of request bodies in this process, and "
                                  f"{size:,} more would pass its share, {self.tenant_limit:,} (of "
                                  "ZOADAMM_MAX_BODY_BYTES_IN_FLIGHT, which several tenants share); retry")
            self.by_tenant[tenant] = mine + size
        self.held += size

    def give_back(self, size: int, tenant: str | None = None) -> None:
        self.held -= size
        if size and tenant in self.by_tenant:
            left = self.by_tenant[tenant] - size
            if left:
                self.by_tenant[tenant] = left
            else:
                del self.by_tenant[tenant]

    def release(self, scope) -> None:
        """Give back what the call's body held (``read_body`` noted it in the scope's state)."""
        state = scope.get("state", {})
        self.give_back(state.pop("body_bytes", 0), state.get("tenant"))


def json_too_large(max_json_bytes: int) -> TooLarge:
    return TooLarge(f"a JSON body is limited to {max_json_bytes} bytes (ZOADAMM_MAX_JSON_BYTES); "
                    f"send vectors in the binary frame ({wire.MEDIA_TYPE})")


async def read_body(receive: Receive, declared: str | None, limit: int, timeout: float, encoding: str | None,
                    content_type: str | None, max_json_bytes: int, in_flight: BodyBytes, state: dict) -> bytes:
    """The request body from the ASGI ``receive``, checked against ``limit`` bytes while it is
    read (``declared``: its Content-Length header, refused at once when over; ``encoding``: its
    Content-Encoding, refused unless identity: nothing is decompressed; a JSON body has its own
    limit, ``max_json_bytes``), its bytes held in ``in_flight``: given back here when the body
    fails, else noted in the call's ``state`` for ``BodyBytes.release`` at the call's end.

    Raises:
        Unsupported: a Content-Encoding other than identity, or a body of another media type
            than JSON or the frame (known from the headers: the body is not read).
        TooLarge: the body is over its limit.
        ServiceBusy: the process holds too many bytes of bodies (``BodyBytes``).
        RequestTimeout: the body did not arrive within ``timeout`` seconds.
        ClientDisconnect: the client went away before the body was complete.
    """
    if encoding is not None and any(e.strip().lower() not in ("", "identity") for e in encoding.split(",")):
        raise Unsupported(f"Content-Encoding {encoding[:40]!r} is not supported: send the body uncompressed")
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in MEDIA_TYPES and (content_type is not None or declared not in (None, "0")):
        raise Unsupported(f"Content-Type must be {JSON} or {wire.MEDIA_TYPE}, not {content_type!r}")
    json_over = media == JSON and max_json_bytes < limit
    limit = min(limit, max_json_bytes) if media == JSON else limit
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise json_too_large(limit) if json_over else TooLarge(
            f"body of {declared} bytes is over the {limit}-byte limit")
    chunks, size, more = [], 0, True
    # a client that sends its body slowly holds a connection and its buffers: bound the time
    try:
        try:
            async with asyncio.timeout(timeout):
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise ClientDisconnect()
                    chunk, more = message.get("body", b""), message.get("more_body", False)
                    if size + len(chunk) > limit:
                        raise json_too_large(limit) if json_over else TooLarge(f"body is over the {limit}-byte limit")
                    in_flight.take(len(chunk), state.get("tenant"))
                    size += len(chunk)
                    chunks.append(chunk)
        except TimeoutError:
            raise RequestTimeout(f"the body did not arrive within {timeout:g} s") from None
    except BaseException:  # a body that failed holds nothing
        in_flight.give_back(size, state.get("tenant"))
        raise
    state["body_bytes"] = size
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
