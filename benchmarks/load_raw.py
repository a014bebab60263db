"""A minimal HTTP/1.1 client on asyncio streams, for load generation only (bench_sessions.py
--generator raw): one keep-alive connection, the binary frame both ways, the same headers the
SDK sends (API key, Idempotency-Key on a create), and every answer checked: its status, its
Content-Length, and its frame decoded.  No retries: any failure is an error of the run."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit

import numpy as np

from zoadamm import wire


class RawClient:
    def __init__(self, url: str, api_key: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.auth = f"authorization: Bearer {api_key}\r\n".encode() if api_key else b""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def create(self, config: dict, x0: np.ndarray) -> str:
        extra = f"idempotency-key: {uuid.uuid4().hex}\r\n".encode()
        status, body = await self.post("/v1/sessions", wire.encode(config, {"x0": x0}), extra)
        if status != 201:
            raise ValueError(f"create answered {status}: {body[:200]!r}")
        fields, _ = wire.decode(body)
        return str(fields["id"])

    async def tell(self, session: str, fields: dict) -> tuple[dict, np.ndarray]:
        status, body = await self.post(f"/v1/sessions/{session}/tell?answer=x", wire.encode(fields))
        if status != 200:
            raise ValueError(f"tell answered {status}: {body[:200]!r}")
        answer, vectors = wire.decode(body)
        return answer, vectors["x"]

    async def post(self, path: str, body: bytes, extra: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
                f"content-type: {wire.MEDIA_TYPE}\r\naccept: {wire.MEDIA_TYPE}, application/json\r\n"
                f"content-length: {len(body)}\r\n").encode()
        self.writer.write(head + self.auth + extra + b"\r\n" + body)
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if length is None:
            raise ValueError(f"answer without Content-Length: {lines}")
        return status, await self.reader.readexactly(length)

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
