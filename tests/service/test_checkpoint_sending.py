"""A checkpoint goes to Redis as a piece of its own, never copied into one buffer with its
command: redis-py's hiredis packer would make that copy while holding the GIL, and a large
session's checkpoint (tens of megabytes) would hold every other request of the process for as
long.  On a real Redis and a real Redis Cluster; the checkpoint read back is the one written."""

from __future__ import annotations

import json

import pytest
from redis.asyncio.connection import AbstractConnection

from zoadamm_service.store import SessionMeta
from zoadamm_service.store.redis import RedisStore

pytestmark = pytest.mark.anyio

CONFIG = {"dim": 3, "method": "zo-adamm", "lr": 0.01, "seed": 5}
LARGE = 1 << 22  # bytes: far above redis-py's cut-off for a piece of its own (6,000)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def packed(monkeypatch) -> list[list]:
    """Every command's pieces, as redis-py's packer hands them to the socket."""
    commands: list[list] = []
    original = AbstractConnection.pack_command

    def recording(self, *args):
        pieces = original(self, *args)
        commands.append(pieces)
        return pieces

    monkeypatch.setattr(AbstractConnection, "pack_command", recording)
    return commands


@pytest.fixture(params=["redis", "cluster"])
async def store(request):
    cluster = request.param == "cluster"
    backend = RedisStore.from_url(request.getfixturevalue("cluster_url" if cluster else "redis_url"), cluster=cluster)
    yield backend
    await backend.close()


def sent_uncopied(commands: list[list], blob: bytes) -> bool:
    """Whether ``blob`` went out as a view of itself, and no piece was a copy of it."""
    pieces = [piece for pieces in commands for piece in pieces]
    viewed = any(isinstance(piece, memoryview) and piece.obj is blob for piece in pieces)
    return viewed and all(isinstance(piece, memoryview) or len(piece) < LARGE for piece in pieces)


async def test_create_start_and_save_send_the_checkpoint_uncopied(store, packed):
    meta = SessionMeta("s1", "acme", None, json.loads(json.dumps(CONFIG)), 1.0)
    created, started, saved = (bytes([n]) * LARGE for n in (1, 2, 3))
    await store.create(meta, created)
    assert sent_uncopied(packed, created)
    assert (await store.read("s1", None)).checkpoint == created

    await store.delete("s1")
    await store.create(meta, None)
    packed.clear()
    await store.start("s1", started)
    assert sent_uncopied(packed, started)
    assert (await store.read("s1", None)).checkpoint == started

    await store.append("s1", 0, b"e0")
    packed.clear()
    await store.save_checkpoint("s1", 1, saved)
    assert sent_uncopied(packed, saved)
    read = await store.read("s1", None)
    assert (read.checkpoint, read.events) == (saved, [])
