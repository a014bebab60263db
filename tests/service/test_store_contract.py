"""The storage contract of ``zoadamm_service.store.base.Store``, run against every implementation.

Optuna's ``StorageTestCase`` pattern: one suite, a ``store`` fixture parametrised over the
backends.  The store treats events and checkpoints as opaque bytes, so the tests use plain bytes.
"""

from __future__ import annotations

import json

import anyio
import pytest

from zoadamm_service.errors import Conflict, Invalid, NotFound, SessionReplaced
from zoadamm_service.store import SessionMeta
from zoadamm_service.store.base import Idempotent, Quota, TracePoint
from zoadamm_service.store.history import chained
from zoadamm_service.store.memory import MemoryStore
from zoadamm_service.store.redis import RedisStore

pytestmark = pytest.mark.anyio

TENANT = "acme"
CONFIG = {"dim": 3, "method": "zo-adamm", "lr": 0.01, "seed": 2**63 + 5, "schedule": {"factor": 0.5}}


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(params=["memory", "redis", "cluster"])
async def store(request):
    if request.param == "memory":
        yield MemoryStore()
        return
    cluster = request.param == "cluster"
    backend = RedisStore.from_url(request.getfixturevalue("cluster_url" if cluster else "redis_url"), cluster=cluster)
    yield backend
    await backend.close()


def meta(session_id: str = "s1", created: float = 1700000000.123456789, name: str | None = "run") -> SessionMeta:
    return SessionMeta(session_id, TENANT, name, json.loads(json.dumps(CONFIG)), created)


async def started(store, session_id: str = "s1", created: float = 1.0) -> str:
    await store.create(meta(session_id, created), b"ckpt-0")
    return session_id


# --- sessions ------------------------------------------------------------------------------
async def test_ping(store):
    assert await store.ping() is None


@pytest.mark.parametrize("name", [None, "", "run one", "ünïcode"])
async def test_meta_round_trips(store, name):
    original = meta(name=name, created=1712345678.000001)
    await store.create(original, None)
    assert await store.meta("s1") == original


async def test_create_twice_conflicts_and_keeps_the_first(store):
    await store.create(meta(name="first"), b"a")
    with pytest.raises(Conflict):
        await store.create(meta(name="second"), b"b")
    assert (await store.meta("s1")).name == "first"
    assert (await store.read("s1", None)).checkpoint == b"a"


async def test_returned_values_are_copies(store):
    await store.create(meta(), b"ckpt")
    got = await store.meta("s1")
    got.config["dim"] = 999
    listed, _ = await store.list(TENANT, 0, 10)
    listed[0].config["lr"] = 5.0
    read = await store.read("s1", None)
    read.events.append(b"junk")
    assert (await store.meta("s1")).config == CONFIG
    assert (await store.read("s1", None)).events == []


async def test_the_stored_meta_is_a_copy_of_the_callers(store):
    mine = meta()
    await store.create(mine, None)
    mine.config["dim"] = 42
    assert (await store.meta("s1")).config == CONFIG


async def test_list_orders_by_creation_and_pages(store):
    for i, created in enumerate([30.0, 10.0, 20.0, 40.0]):
        await store.create(meta(f"s{i}", created), None)
    everything, total = await store.list(TENANT, 0, 100)
    assert total == 4
    assert [m.id for m in everything] == ["s1", "s2", "s0", "s3"]
    page, total = await store.list(TENANT, 1, 2)
    assert ([m.id for m in page], total) == (["s2", "s0"], 4)
    assert await store.list(TENANT, 10, 5) == ([], 4)


async def test_a_walk_through_the_pages_meets_every_session_past_ids_whose_session_is_gone(store):
    """Ids listed for sessions that were never written (a create cut off after its admission)
    are forgotten as a page meets them, and the page is read again: forgetting them must not
    move the sessions of the pages after it below the walk's next offset."""
    for i, created in enumerate([10.0, 20.0, 30.0, 40.0, 50.0]):
        await store.create(meta(f"s{i}", created), None)
    for ghost, created in (("g0", 1.0), ("g1", 35.0)):
        await store._index.admit(meta(ghost, created), Quota(), 0)
    seen, offset = [], 0
    while True:
        page, total = await store.list(TENANT, offset, 2)
        assert total == 5
        if not page:
            break
        seen += [m.id for m in page]
        offset += 2
    assert seen == ["s0", "s1", "s2", "s3", "s4"]


async def test_delete_removes_everything(store):
    await started(store, "s1", 1.0)
    await started(store, "s2", 2.0)
    await store.append("s1", 0, b"e0", json.dumps({"value": 1}))
    await store.add_partials("s1", 1, {0: "p"})
    await store.delete("s1")
    for call in (store.meta("s1"), store.head("s1"), store.read("s1", None), store.metrics("s1", None)):
        with pytest.raises(NotFound):
            await call
    with pytest.raises(NotFound):
        await store.delete("s1")
    assert [m.id for m in (await store.list(TENANT, 0, 10))[0]] == ["s2"]


async def test_unknown_sessions_raise_not_found(store):
    calls = [
        store.meta("nope"), store.head("nope"), store.delete("nope"), store.start("nope", b"c"),
        store.append("nope", 0, b"e"), store.read("nope", None), store.read("nope", 0),
        store.add_partials("nope", 0, {0: "p"}),
        store.metrics("nope", None), store.metrics("nope", 3),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            await call


async def test_checkpoint_for_a_deleted_session_is_ignored(store):
    await started(store)
    await store.delete("s1")
    await store.save_checkpoint("s1", 1, b"late")
    with pytest.raises(NotFound):
        await store.meta("s1")


# --- initial state -------------------------------------------------------------------------
async def test_a_session_without_state_refuses_reads_and_appends(store):
    await store.create(meta(), None)
    assert (await store.head("s1")).seq == 0
    with pytest.raises(Conflict):
        await store.read("s1", None)
    with pytest.raises(Conflict):
        await store.append("s1", 0, b"e0")
    assert (await store.head("s1")).seq == 0


async def test_start_sets_the_state_once(store):
    await store.create(meta(), None)
    await store.start("s1", b"x-a")
    assert (await store.read("s1", None)).checkpoint == b"x-a"
    # a second start (another replica racing to set x) loses, whatever the head
    with pytest.raises(Conflict):
        await store.start("s1", b"x-b")
    await store.append("s1", 0, b"e0")
    with pytest.raises(Conflict) as caught:
        await store.start("s1", b"x-c")
    read = await store.read("s1", None)
    assert (read.checkpoint, read.events) == (b"x-a", [b"e0"])
    assert caught.value.details.get("head") == 1


async def test_start_conflicts_when_created_with_state(store):
    await store.create(meta(), b"x0")
    with pytest.raises(Conflict):
        await store.start("s1", b"other")
    assert (await store.read("s1", None)).checkpoint == b"x0"


# --- the journal ---------------------------------------------------------------------------
async def test_append_is_conditional_on_the_head(store):
    await started(store)
    assert (await store.append("s1", 0, b"e0")).head == 1
    for wrong in (0, 2, 7):
        with pytest.raises(Conflict) as caught:
            await store.append("s1", wrong, b"bad")
        assert caught.value.details["head"] == 1
    assert (await store.append("s1", 1, b"e1")).head == 2
    read = await store.read("s1", None)
    assert (read.head, read.start, read.checkpoint, read.events) == (2, 0, b"ckpt-0", [b"e0", b"e1"])


async def test_a_history_is_named_by_its_events_and_no_other_takes_its_place(store):
    """A Redis that lost steps and took as many others has the step count of a replica's copy of
    the lost ones: the tag (``Head.tag``) tells the two apart, at every call that trusts a copy."""
    await started(store)
    assert await store.head("s1") == (0, "")
    first = await store.append("s1", 0, b"e0", tag="")
    second = await store.append("s1", 1, b"e1", tag=first.tag)
    assert await store.head("s1") == (2, second.tag) and second.tag == chained("", [b"e0", b"e1"])
    assert len({"", first.tag, second.tag, chained("", [b"e0", b"other"])}) == 4
    lost = chained(first.tag, [b"lost"])  # the copy's: step 1 was another event, which Redis lost
    with pytest.raises(Conflict) as caught:
        await store.append("s1", 2, b"e2", tag=lost)  # the head's count, not its history
    assert caught.value.details["head"] == 2 and await store.head("s1") == (2, second.tag)
    ours = await store.read("s1", 2, second.tag)
    assert (ours.start, ours.checkpoint, ours.events, ours.tag) == (2, None, [], second.tag)
    other = await store.read("s1", 2, lost)  # the checkpoint and every event after it instead
    assert (other.start, other.checkpoint, other.events, other.tag) == (0, b"ckpt-0", [b"e0", b"e1"], second.tag)
    assert (await store.read("s1", 1, "0" * 16)).checkpoint == b"ckpt-0"
    with pytest.raises(Conflict):  # a lease answers the steps of a copy: of the store's history only
        await store.lease("s1", 2, 2, 3, 1, "w", 30.0, tag=lost)
    _, refused = await store.add_partials_and_lease("s1", 2, {0: "a"}, 2, 3, 1, "w", 30.0, tag=lost)
    assert refused is None
    assert (await store.lease("s1", 2, 3, 3, 1, "w", 30.0, tag=second.tag)).indices == [0]


async def test_concurrent_appends_at_one_head_write_once(store):
    await started(store)
    outcomes = []

    async def writer(i: int) -> None:
        try:
            outcomes.append((await store.append("s1", 0, f"e{i}".encode())).head)
        except Conflict:
            outcomes.append("conflict")

    async with anyio.create_task_group() as tg:
        for i in range(16):
            tg.start_soon(writer, i)
    assert sorted(outcomes, key=str) == [1] + ["conflict"] * 15
    read = await store.read("s1", None)
    assert read.head == 1 and len(read.events) == 1


async def test_read_since(store):
    await started(store)
    events = [f"e{i}".encode() for i in range(5)]
    for i, e in enumerate(events):
        await store.append("s1", i, e)
    for since in range(6):
        read = await store.read("s1", since)
        assert (read.head, read.start, read.checkpoint, read.events) == (5, since, None, events[since:])
    # a caller whose state the store cannot continue gets the checkpoint and all events
    for since in (None, 6, 100):
        read = await store.read("s1", since)
        assert (read.head, read.start, read.checkpoint, read.events) == (5, 0, b"ckpt-0", events)


async def test_save_checkpoint_trims_the_journal(store):
    await started(store)
    events = [f"e{i}".encode() for i in range(6)]
    for i, e in enumerate(events):
        await store.append("s1", i, e)
    await store.save_checkpoint("s1", 4, b"ckpt-4")
    read = await store.read("s1", None)
    assert (read.head, read.start, read.checkpoint, read.events) == (6, 4, b"ckpt-4", events[4:])
    # a reader behind the checkpoint must start over from it
    read = await store.read("s1", 2)
    assert (read.start, read.checkpoint, read.events) == (4, b"ckpt-4", events[4:])
    read = await store.read("s1", 5)
    assert (read.start, read.checkpoint, read.events) == (5, None, events[5:])
    # older, equal or future checkpoints lose (replicas race here)
    for seq, blob in ((3, b"old"), (4, b"same"), (7, b"future")):
        await store.save_checkpoint("s1", seq, blob)
    read = await store.read("s1", None)
    assert (read.start, read.checkpoint, read.events) == (4, b"ckpt-4", events[4:])
    # appends go on at the head after a trim
    assert (await store.append("s1", 6, b"e6")).head == 7
    await store.save_checkpoint("s1", 7, b"ckpt-7")
    read = await store.read("s1", None)
    assert (read.head, read.start, read.checkpoint, read.events) == (7, 7, b"ckpt-7", [])
    assert (await store.read("s1", 7)).events == []


# --- partial reports -----------------------------------------------------------------------
async def test_partials_accumulate_per_step(store):
    await started(store)
    assert await store.add_partials("s1", 0, {1: "b"}) == {1: "b"}
    assert await store.add_partials("s1", 0, {0: "a", 3: "d"}) == {0: "a", 1: "b", 3: "d"}
    assert await store.add_partials("s1", 5, {0: "other step"}) == {0: "other step"}
    assert await store.add_partials("s1", 0, {2: "c"}) == {0: "a", 1: "b", 2: "c", 3: "d"}


async def test_the_first_report_of_a_direction_wins(store):
    await started(store)
    await store.add_partials("s1", 0, {0: "a"})
    assert await store.add_partials("s1", 0, {0: "changed", 1: "b"}) == {0: "a"}  # all or none
    assert await store.add_partials("s1", 0, {0: "a", 1: "b"}) == {0: "a", 1: "b"}


async def test_a_step_append_drops_partials_and_a_metric_append_keeps_them(store):
    await started(store)
    await store.add_partials("s1", 0, {0: "a"})
    await store.append("s1", 0, b"metric", json.dumps({"value": 1.0}))
    assert await store.add_partials("s1", 0, {1: "b"}) == {0: "a", 1: "b"}
    await store.append("s1", 1, b"step")
    assert await store.add_partials("s1", 0, {2: "c"}) == {2: "c"}


async def test_a_copy_of_a_session_since_made_anew_writes_nothing(store):
    """Each write of a step takes the creation time of the caller's copy: a replica holding a
    session deleted and made again under its id writes neither steps nor parts nor leases."""
    await started(store, created=2.0)
    old = 1.0
    writes = [store.append("s1", 0, b"step", created=old),
              store.add_partials("s1", 0, {0: "a"}, old),
              store.lease("s1", 0, 0, 2, 1, "old", 30.0, old),
              store.add_partials_and_lease("s1", 0, {0: "a"}, 0, 2, 1, "old", 30.0, old)]
    for write in writes:
        with pytest.raises(SessionReplaced):
            await write
    assert (await store.head("s1")).seq == 0
    assert await store.add_partials("s1", 0, {1: "b"}, 2.0) == {1: "b"}  # no part of the old copy's
    assert (await store.lease("s1", 0, 0, 2, 2, "new", 30.0, 2.0)).indices == [0]  # no lease of it either


# --- metrics -------------------------------------------------------------------------------
async def test_metrics_are_appended_with_their_event(store):
    await started(store)
    assert await store.metrics("s1", None) == []
    entries = [json.dumps({"value": v}) for v in (3.0, 2.0, 1.0)]
    for i, entry in enumerate(entries):
        await store.append("s1", i, f"m{i}".encode(), entry)
    await store.append("s1", 3, b"step-without-metric")
    assert await store.metrics("s1", None) == entries
    assert await store.metrics("s1", 2) == entries[1:]
    assert await store.metrics("s1", 10) == entries
    assert await store.metrics("s1", 0) == []


async def test_the_history_keeps_its_byte_cap_and_pages_keep_their_cursors(store):
    await started(store)
    entries = [json.dumps({"value": v, "pad": "x" * 90}) for v in range(10)]  # 117 bytes each
    for i, entry in enumerate(entries):
        await store.append("s1", i, b"m", entry, keep_metrics=8, keep_metric_bytes=500)
    assert await store.metrics("s1", None) == entries[-4:]  # 4 fit in 500 bytes: the oldest went
    page = await store.metrics_page("s1", 0, limit=3, max_bytes=10_000)
    assert (page.items, page.next_cursor, page.end) == (entries[6:9], 9, 10)  # cursor 0 was dropped
    page = await store.metrics_page("s1", 9, limit=3, max_bytes=10_000)
    assert (page.items, page.next_cursor) == (entries[9:], None)
    page = await store.metrics_page("s1", None, limit=10, max_bytes=250)  # two fit in 250 bytes
    assert (page.items, page.next_cursor) == (entries[6:8], 8)
    assert (await store.metrics_page("s1", last=1, limit=10, max_bytes=10_000)).items == entries[9:]
    sampled = await store.metrics_page("s1", points=2, limit=10, max_bytes=10_000)
    assert (sampled.items, sampled.next_cursor, sampled.end) == ([entries[6], entries[9]], None, 10)
    with pytest.raises(NotFound):
        await store.metrics_page("nope", limit=1, max_bytes=1)


async def test_a_failed_append_writes_no_metric(store):
    await started(store)
    with pytest.raises(Conflict):
        await store.append("s1", 3, b"m", json.dumps({"value": 1.0}))
    assert await store.metrics("s1", None) == []
    assert (await store.head("s1")).seq == 0


# --- trace ---------------------------------------------------------------------------------
def trace_point(step: int) -> bytes:
    from zoadamm_service.domain import trace

    return trace.POINT.pack(step, 1000.0 + step, 1.0 / (step + 1), 2.0, 0.5, 0.01, 0.001)


def trace_steps(read) -> list[int]:
    from zoadamm_service.domain import trace

    return [trace.step_of(p) for p in read.points]


async def append_trace(store, session_id: str, step: int, max_points: int) -> None:
    """A step event with its trace point, appended at the head."""
    head = await store.head(session_id)
    await store.append(session_id, head.seq, f"e{step}".encode(), trace=TracePoint(step, trace_point(step), max_points))


async def test_a_new_session_has_an_empty_trace(store):
    await started(store)
    read = await store.trace("s1")
    assert (read.stride, read.points, read.last) == (1, [], None)


async def test_trace_points_are_kept_in_order_with_the_newest_beside_them(store):
    await started(store)
    for step in range(5):
        await append_trace(store, "s1", step, 100)
    read = await store.trace("s1")
    assert read.points == [trace_point(s) for s in range(5)]
    assert read.last == trace_point(4) and read.stride == 1
    assert trace_steps(await store.trace("s1", since=3)) == [3, 4]
    assert trace_steps(await store.trace("s1", since=9)) == []
    assert trace_steps(await store.trace("s1", tail=2)) == [3, 4]
    assert trace_steps(await store.trace("s1", since=1, tail=3)) == [2, 3, 4]
    assert (await store.trace("s1", tail=0)).points == []


async def test_a_full_trace_doubles_its_stride_and_keeps_multiples_of_it(store):
    await started(store)
    for step in range(9):
        await append_trace(store, "s1", step, 4)
    read = await store.trace("s1")
    # 0..3 fill it; at 4 it keeps 0, 2 (stride 2), then 4, 6 fill it; at 8 it keeps 0, 4 (stride 4)
    assert read.stride == 4
    assert trace_steps(read) == [0, 4, 8]
    assert read.last == trace_point(8)


async def test_a_long_session_keeps_a_bounded_evenly_spaced_trace(store):
    await started(store)
    for step in range(1000):
        await append_trace(store, "s1", step, 16)
    read = await store.trace("s1")
    steps = trace_steps(read)
    assert 8 <= len(steps) <= 16
    assert steps == list(range(0, 1000, read.stride))
    assert read.last == trace_point(999)


async def test_returned_trace_lists_are_copies(store):
    await started(store)
    await append_trace(store, "s1", 0, 8)
    (await store.trace("s1")).points.append(b"junk")
    assert (await store.trace("s1")).points == [trace_point(0)]


async def test_trace_of_an_unknown_or_deleted_session_is_not_found(store):
    with pytest.raises(NotFound):
        await store.trace("nope")
    await started(store)
    await append_trace(store, "s1", 0, 8)
    await store.delete("s1")
    with pytest.raises(NotFound):
        await store.trace("s1")
    await started(store)  # the same id again starts with an empty trace
    assert (await store.trace("s1")).points == []


async def test_a_conflicting_append_writes_no_trace_point(store):
    await started(store)
    await append_trace(store, "s1", 0, 8)
    with pytest.raises(Conflict):
        await store.append("s1", 0, b"late", trace=TracePoint(1, trace_point(1), 8))
    read = await store.trace("s1")
    assert trace_steps(read) == [0] and read.last == trace_point(0)


# --- tenants -------------------------------------------------------------------------------
async def test_each_tenant_lists_its_own_sessions(store):
    await store.create(meta("s1", 1.0), None)
    await store.create(SessionMeta("s2", "other", "run", dict(CONFIG), 2.0), None)
    await store.create(meta("s3", 3.0), None)
    assert [m.id for m in (await store.list(TENANT, 0, 10))[0]] == ["s1", "s3"]
    assert [(m.id, m.tenant) for m in (await store.list("other", 0, 10))[0]] == [("s2", "other")]
    assert await store.list("nobody", 0, 10) == ([], 0)
    await store.delete("s1")
    assert [m.id for m in (await store.list(TENANT, 0, 10))[0]] == ["s3"]


@pytest.mark.parametrize("attack", [
    "s1:events", "s1:checkpoint", "s1:metrics", "s1}:events", "{s1}", "s1*", "*", "s1%3Aevents",
    "s1" + "x" * 10_000,
])
async def test_no_id_reaches_another_sessions_data(store, attack):
    await started(store)
    await store.append("s1", 0, b"e0", json.dumps({"value": 1}))
    before = (await store.read("s1", None), await store.metrics("s1", None), await store.meta("s1"))
    for call in (store.meta(attack), store.delete(attack), store.head(attack), store.read(attack, None),
                 store.metrics(attack, None), store.trace(attack), store.start(attack, b"c"),
                 store.append(attack, 1, b"e"), store.add_partials(attack, 1, {0: "p"})):
        with pytest.raises(NotFound):
            await call
    await store.save_checkpoint(attack, 1, b"evil")
    assert (await store.read("s1", None), await store.metrics("s1", None), await store.meta("s1")) == before


# --- exactly-once POSTs ----------------------------------------------------------------------
def idem(key: str = "k1", request: str = "r1", answer: str = '{"n": 1}') -> Idempotent:
    return Idempotent(key, request, answer, ttl_s=60)


async def test_a_repeated_create_gets_the_first_answer_and_changes_nothing(store):
    assert await store.create(meta(name="first"), b"c", idem(answer='{"first": true}')) is None
    assert await store.create(meta(name="second"), b"d", idem(answer='{"second": true}')) == '{"first": true}'
    assert (await store.meta("s1")).name == "first"
    assert (await store.read("s1", None)).checkpoint == b"c"
    with pytest.raises(Invalid):  # the same key with another request
        await store.create(meta(name="third"), b"e", idem(request="r2"))
    with pytest.raises(Conflict):  # no key: an id that exists is a conflict, as before
        await store.create(meta(name="fourth"), b"f")


async def test_a_repeated_metric_append_writes_once(store):
    await started(store)
    first = await store.append("s1", 0, b"m0", '{"value": 1}', idempotent=idem(answer='{"entry": 1}'))
    assert (first.head, first.replayed) == (1, None)
    again = await store.append("s1", 0, b"m0", '{"value": 1}', idempotent=idem(answer='{"entry": 2}'))
    assert (again.head, again.replayed) == (1, '{"entry": 1}')
    later = await store.append("s1", 5, b"m0", '{"value": 1}', idempotent=idem())  # even at another head
    assert later.replayed == '{"entry": 1}'
    assert await store.metrics("s1", None) == ['{"value": 1}']
    assert (await store.read("s1", None)).events == [b"m0"]
    with pytest.raises(Invalid):
        await store.append("s1", 1, b"m1", '{"value": 2}', idempotent=idem(request="r2"))
    assert (await store.append("s1", 1, b"m1", '{"value": 2}', idempotent=idem(key="k2"))).head == 2


async def test_an_idempotency_record_expires(store):
    await started(store)
    short = Idempotent("k", "r", "a", ttl_s=1)
    await store.append("s1", 0, b"m0", '{"value": 1}', idempotent=short)
    await anyio.sleep(2.1)  # the record's lifetime, not a limit on the test
    assert (await store.append("s1", 1, b"m1", '{"value": 1}', idempotent=short)).replayed is None
    assert len(await store.metrics("s1", None)) == 2


# --- leases of a shared step ----------------------------------------------------------------
async def test_leases_hand_out_free_directions_in_order(store):
    await started(store)
    first = await store.lease("s1", 0, 0, 5, 2, "a", 30.0)
    assert (first.indices, first.seconds, first.others_expire_in) == ([0, 1], 30.0, None)
    second = await store.lease("s1", 0, 0, 5, 2, "b", 30.0)
    assert second.indices == [2, 3]
    assert 0 < second.others_expire_in <= 30.0
    assert (await store.lease("s1", 0, 0, 5, 9, "c", 30.0)).indices == [4]
    assert (await store.lease("s1", 0, 0, 5, 9, "d", 30.0)).indices == []


async def test_a_holder_asking_again_gets_its_lease_back(store):
    await started(store)
    assert (await store.lease("s1", 0, 0, 4, 2, "a", 30.0)).indices == [0, 1]
    assert (await store.lease("s1", 0, 0, 4, 2, "a", 30.0)).indices == [0, 1]
    assert (await store.lease("s1", 0, 0, 4, 3, "a", 30.0)).indices == [0, 1, 2]
    assert (await store.lease("s1", 0, 0, 4, 4, "b", 30.0)).indices == [3]


async def test_reported_directions_are_never_leased(store):
    await started(store)
    await store.lease("s1", 0, 0, 4, 2, "a", 30.0)
    await store.add_partials("s1", 0, {0: "x", 1: "y", 3: "z"})
    assert (await store.lease("s1", 0, 0, 4, 4, "a", 30.0)).indices == [2]
    assert (await store.lease("s1", 0, 0, 4, 4, "b", 30.0)).indices == []


async def test_an_expired_lease_goes_to_another_holder(store):
    await started(store)
    assert (await store.lease("s1", 0, 0, 2, 2, "a", 1.0)).indices == [0, 1]
    assert (await store.lease("s1", 0, 0, 2, 2, "b", 30.0)).indices == []  # within a's second, on any machine
    await anyio.sleep(1.2)
    taken = await store.lease("s1", 0, 0, 2, 2, "b", 30.0)
    assert (taken.indices, taken.others_expire_in) == ([0, 1], None)
    assert (await store.lease("s1", 0, 0, 2, 2, "a", 30.0)).indices == []


async def test_a_new_step_starts_with_no_leases(store):
    await started(store)
    await store.lease("s1", 0, 0, 3, 3, "a", 30.0)
    await store.append("s1", 0, b"step 0")
    assert (await store.lease("s1", 1, 1, 3, 2, "b", 30.0)).indices == [0, 1]


async def test_a_lease_is_granted_only_at_the_head_the_caller_holds(store):
    await started(store)
    await store.append("s1", 0, b"step 0")
    with pytest.raises(Conflict) as caught:
        await store.lease("s1", 0, 0, 3, 3, "a", 30.0)
    assert caught.value.details["head"] == 1
    with pytest.raises(NotFound):
        await store.lease("nope", 0, 0, 3, 3, "a", 30.0)


async def test_concurrent_leases_never_share_a_direction(store):
    await started(store)
    got: dict[str, list[int]] = {}

    async def take(holder: str) -> None:
        got[holder] = (await store.lease("s1", 0, 0, 16, 3, holder, 30.0)).indices

    async with anyio.create_task_group() as tg:
        for k in range(8):
            tg.start_soon(take, f"w{k}")
    everything = [i for indices in got.values() for i in indices]
    assert sorted(everything) == list(range(16))


async def test_a_part_and_the_next_steps_lease_in_one_call(store):
    await started(store)
    assert (await store.lease("s1", 0, 0, 4, 2, "a", 30.0)).indices == [0, 1]
    assert (await store.lease("s1", 0, 0, 4, 2, "b", 30.0)).indices == [2, 3]
    reported, following = await store.add_partials_and_lease("s1", 0, {0: "x", 1: "y"}, 0, 4, 2, "a", 30.0)
    assert reported == {0: "x", 1: "y"} and following is not None and following.indices == [0, 1]
    # b still holds its directions of step 0: nobody else is given them meanwhile
    assert (await store.lease("s1", 0, 0, 4, 4, "c", 30.0)).indices == []
    reported, following = await store.add_partials_and_lease("s1", 0, {2: "z", 3: "w"}, 0, 4, 2, "b", 30.0)
    assert sorted(reported) == [0, 1, 2, 3] and following is not None and following.indices == [2, 3]
    await store.append("s1", 0, b"step 0")
    # once step 1 opens, each holder asking again gets what it leased with its part
    assert (await store.lease("s1", 1, 1, 4, 2, "a", 30.0)).indices == [0, 1]
    assert (await store.lease("s1", 1, 1, 4, 2, "b", 30.0)).indices == [2, 3]
    assert (await store.lease("s1", 1, 1, 4, 4, "c", 30.0)).indices == []


async def test_a_part_told_after_its_step_closed_leases_nothing(store):
    await started(store)
    await store.append("s1", 0, b"step 0")
    reported, following = await store.add_partials_and_lease("s1", 0, {0: "x"}, 0, 4, 2, "a", 30.0)
    assert reported == {0: "x"} and following is None
    with pytest.raises(NotFound):
        await store.add_partials_and_lease("nope", 0, {0: "x"}, 0, 4, 2, "a", 30.0)

# --- quotas and lifetimes --------------------------------------------------------------------
async def test_create_admits_a_tenant_up_to_its_quota(store):
    from zoadamm_service.errors import QuotaExceeded

    two = Quota(sessions=2)
    for i in range(2):
        await store.create(meta(f"s{i}", float(i)), None, quota=two)
    with pytest.raises(QuotaExceeded, match="ZOADAMM_MAX_SESSIONS"):
        await store.create(meta("s2", 2.0), None, quota=two)
    await store.create(SessionMeta("o1", "other", None, dict(CONFIG), 3.0), None, quota=two)
    await store.delete("s1")
    await store.create(meta("s2", 2.0), None, quota=two)
    assert [m.id for m in (await store.list(TENANT, 0, 10))[0]] == ["s0", "s2"]


async def test_create_admits_a_tenant_up_to_its_bytes_of_state(store):
    from zoadamm_service.errors import QuotaExceeded

    def sized(size: int) -> Quota:
        return Quota(bytes=100, size=size)

    await store.create(meta("s0", 0.0), None, quota=sized(60))
    with pytest.raises(QuotaExceeded, match=r"hold 60 bytes .* needs 41 more, past its limit of 100 "
                                            r"\(ZOADAMM_MAX_TENANT_BYTES\)"):
        await store.create(meta("s1", 1.0), None, quota=sized(41))
    assert [m.id for m in (await store.list(TENANT, 0, 10))[0]] == ["s0"]  # the refused create left nothing
    await store.create(meta("s1", 1.0), None, quota=sized(40))  # exactly the limit
    assert (await store.list(TENANT, 0, 10))[1] == 2
    await store.create(SessionMeta("o1", "other", None, dict(CONFIG), 2.0), None, quota=sized(100))
    await store.delete("s0")
    await store.create(meta("s2", 2.0), None, quota=sized(60))  # the delete gave its 60 bytes back
    with pytest.raises(QuotaExceeded):
        await store.create(meta("s3", 3.0), None, quota=sized(1))


async def test_a_create_under_way_is_not_pruned_in_favour_of_another(store):
    """A create is listed before its session is written: a create refused meanwhile prunes the
    index, and must not take the first one's place (both would then exist past the quota)."""
    import time

    from zoadamm_service.errors import QuotaExceeded

    quota = Quota(bytes=100, size=60)
    first = SessionMeta("first", TENANT, None, dict(CONFIG), time.time())
    await store._index.admit(first, quota, store.ttl_s)  # listed; its session not written yet
    with pytest.raises(QuotaExceeded, match="hold 60 bytes"):
        await store.create(SessionMeta("second", TENANT, None, dict(CONFIG), time.time()), None, quota=quota)
    await store.create(first, None, quota=quota)  # the first create goes on
    assert [m.id for m in (await store.list(TENANT, 0, 10))[0]] == ["first"]


async def test_the_bytes_of_sessions_gone_are_given_back(store):
    """An expired session, and a size whose id the index no longer lists (a delete cut off
    between its two writes), count against nothing once a create would be refused for them."""
    from zoadamm_service import keys

    store.ttl_s = 1
    await store.create(meta("s0", 0.0), None, quota=Quota(bytes=100, size=60))
    await store._redis.hset(keys.tenant_sizes(TENANT), "cut-off", 30)
    await anyio.sleep(1.5)  # s0 expires
    store.ttl_s = 0
    await store.create(meta("s1", 1.0), None, quota=Quota(bytes=100, size=100))
    assert [m.id for m in (await store.list(TENANT, 0, 10))[0]] == ["s1"]
    assert await store._redis.hkeys(keys.tenant_sizes(TENANT)) == [b"s1"]


async def test_a_touch_under_no_ttl_takes_off_every_expiry_an_earlier_ttl_set(store):
    """0 means never: a session written by a service with a TTL, then by one without (a restart
    with the setting changed), must not expire key by key afterwards.  The touch takes the
    expiry off every key at once; the writes under 0 leave expiries alone."""
    from zoadamm_service import keys

    store.ttl_s = 60
    await started(store)
    await store.append("s1", 0, b"e0", json.dumps({"value": 1}))
    await store.lease("s1", 1, 1, 2, 1, "a", 10.0)  # the leases' own key
    written = [keys.meta("s1"), keys.checkpoint("s1"), keys.events("s1"), keys.metrics("s1"), keys.leases("s1")]
    assert all([await store._redis.ttl(key) > 0 for key in written])
    store.ttl_s = 0
    await store.append("s1", 1, b"e1")
    assert all([await store._redis.ttl(key) > 0 for key in written])  # a write alone changes nothing
    await store.touch("s1")
    assert [await store._redis.ttl(key) for key in written] == [-1] * len(written)


async def test_touch_of_an_unknown_session_is_not_found(store):
    store.ttl_s = 60
    await started(store)
    await store.touch("s1")
    with pytest.raises(NotFound):
        await store.touch("nope")


# --- notices of closed split steps --------------------------------------------------------------
async def test_a_closed_split_step_is_noticed_where_the_store_can(store, request):
    """Replicas on one Redis hear of each split step appended, so that the tells waiting in
    them wake at once; the embedded store (one process) and the cluster client (redis-py has
    no asyncio pub/sub for it) have no notices: their waiting tells look at the store instead."""
    from zoadamm_service.keys import CLOSES

    await started(store)
    notices = store.closed_steps()
    if request.node.callspec.params["store"] != "redis":
        assert [notice async for notice in notices] == []
        return
    first = anyio.Event()
    got: list[tuple[str, int]] = []

    async def listen() -> None:
        got.append(await notices.__anext__())
        first.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(listen)
        while not (await store._redis.pubsub_numsub(CLOSES))[0][1]:
            await anyio.sleep(0.01)  # until the subscription is in place
        await store.append("s1", 0, b"step 0")  # a step told whole: no notice
        await store.add_partials("s1", 1, {0: "x"})
        await store.append("s1", 1, b"step 1")  # a split step: noticed
        await first.wait()
    await notices.aclose()
    assert got == [("s1", 1)]


# --- waits ---------------------------------------------------------------------------------
async def test_wait_past_answers_false_at_its_timeout_and_true_once_the_head_moved(store):
    await started(store)
    assert not await store.wait_past("s1", 0, 0.05)  # nothing moved
    await store.append("s1", 0, b"e0")
    assert await store.wait_past("s1", 0, 0.05)  # moved before the wait: not missed

    async def append_soon() -> None:
        await anyio.sleep(0.05)
        await store.append("s1", 1, b"e1")

    async with anyio.create_task_group() as tg:
        tg.start_soon(append_soon)
        assert await store.wait_past("s1", 1, 60)  # woken by this process's append, not the timeout


async def test_the_embedded_store_is_alone_and_never_looks_at_the_head_while_waiting(store, request):
    """The one rule ``alone`` stands for: no other process writes the embedded store, so its
    waits look nowhere (no poll, no notices) and its appends confirm nothing; a Redis store's
    waits look at the head, since another replica may have moved it."""
    await started(store)
    looks = 0
    head = store.head

    async def counted(session_id: str) -> int:
        nonlocal looks
        looks += 1
        return await head(session_id)

    store._notices._head = counted
    assert not await store.wait_past("s1", 0, 0.1)
    alone = request.node.callspec.params["store"] == "memory"
    assert (looks == 0) if alone else (looks > 0)
    assert store._replication.replicas == 0 and (store._replication._alone is alone)


async def test_a_part_with_a_changed_value_records_nothing_and_leases_nothing(store):
    """All or none: a re-report with another value changes no direction of the part, not even
    the new ones, and takes no lease on the next step (the caller refuses it whole)."""
    await started(store)
    await store.add_partials("s1", 0, {0: "a"})
    assert await store.add_partials("s1", 0, {0: "changed", 2: "c"}) == {0: "a"}
    reported, leased = await store.add_partials_and_lease("s1", 0, {0: "changed", 3: "d"}, 0, 4, 4, "w", 10.0)
    assert reported == {0: "a"} and leased is None
    assert (await store.lease("s1", 0, 1, 4, 4, "other", 10.0)).indices == [0, 1, 2, 3]  # step 1: all free
    assert await store.add_partials("s1", 0, {0: "a", 2: "c"}) == {0: "a", 2: "c"}  # the same value: kept
