"""The session rules: create, ask, tell, metrics.  Routes call these and nothing else.

Flow of a tell for step t (the hot path): validate the values, turn them into a journal event
(q coefficients), append it to the store *conditionally on the head we hold*, then apply it to
the cached state.  The append is the acknowledgement: once it returns, the step survives any
crash, and a repeated tell finds it and gets the same answer.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import OrderedDict

import numpy as np
from zoadamm import SessionConfig, directions

from ..errors import Conflict, Invalid
from ..settings import Settings
from ..store import SessionMeta, Store
from . import inputs, journal, trace
from .replica import LastStep, Replica

ANSWER_X, ANSWER_CHECKSUM = "x", "checksum"
COMMIT_TRIES = 3  # a metric appended by another replica moves the head without closing the step
RESERVED_METRICS = frozenset({"step", "value", "lr", "mu", "time"})

class Sessions:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._cache: OrderedDict[str, Replica] = OrderedDict()
        self._background: set[asyncio.Task] = set()

    # --- lifecycle -------------------------------------------------------------------------
    async def create(self, config: dict, name: str | None, x0: np.ndarray | None) -> dict:
        """Raises Invalid for a bad configuration or x0."""
        if config.get("seed") is None:
            config["seed"] = int(np.random.SeedSequence().entropy % (1 << 53))  # JSON-safe
        cfg = inputs.session_config(config)
        meta = SessionMeta(uuid.uuid4().hex, name, cfg.to_dict(), time.time())
        checkpoint = None
        if x0 is not None:
            checkpoint = journal.encode_checkpoint(inputs.start_optimizer(cfg, x0), 0)
        await self.store.create(meta, checkpoint)
        return await self.view(meta.id)

    async def view(self, session_id: str) -> dict:
        replica = await self._replica(session_id)
        async with replica.lock:
            await replica.catch_up(self.store, await self.store.head(session_id))
            return await self._view(replica)

    async def list(self, offset: int, limit: int) -> tuple[list[dict], int]:
        metas, total = await self.store.list(offset, limit)
        return [_summary(m) for m in metas], total

    async def delete(self, session_id: str) -> None:
        await self.store.delete(session_id)
        self._cache.pop(session_id, None)

    async def aclose(self) -> None:
        """Finish the work answered before it was done (deferred updates, checkpoints), so that
        the store is not closed under it."""
        for replica in list(self._cache.values()):
            await replica.settle()
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # --- ask -------------------------------------------------------------------------------
    async def ask(self, session_id: str, x: np.ndarray | None, with_vectors: bool) -> tuple[dict, np.ndarray | None]:
        """The open step's directions.  ``x`` sets the parameters before the first step and
        must equal the session's parameters after it.  Raises Conflict, Invalid, NotFound."""
        replica = await self._replica(session_id)
        async with replica.lock:
            await replica.catch_up(self.store, await self.store.head(session_id))
            if x is not None:
                await self._check_or_start(replica, x)
            elif replica.optimizer is None:
                raise Conflict("the session has no parameters yet: send x with the first ask", step=0)
            opt, cfg = replica.optimizer, replica.config
            answer = {
                "step": opt.step, "seed": cfg.seed, "mu": opt.mu, "lr": opt.lr,
                "directions": cfg.directions, "distribution": cfg.distribution,
                "difference": cfg.difference, "method": cfg.method,
            }
            u = None
            if with_vectors and cfg.method == "zo-adamm":
                if 4 * cfg.directions * cfg.dim > self.settings.max_body_bytes:
                    raise Invalid("the directions are too large to send; regenerate them with zoadamm.directions")
                u = await replica.run(directions, cfg.seed, opt.step, cfg.directions, cfg.dim, cfg.distribution)
            return answer, u

    async def _check_or_start(self, replica: Replica, x: np.ndarray) -> None:
        """Parameters are set once (x0 or the first ask's x) and checked after."""
        x = inputs.vector("x", x, replica.config.dim)
        if replica.optimizer is None:
            optimizer = inputs.start_optimizer(replica.config, x)
            try:
                await self.store.start(replica.meta.id, journal.encode_checkpoint(optimizer, 0))
            except Conflict:  # another replica set them first
                await replica.catch_up(self.store)
            else:
                replica.optimizer, replica.seq, replica.last = optimizer, 0, None
                return
        if not np.array_equal(replica.optimizer.state.x, x):
            raise Conflict(
                f"x differs from the session's parameters at step {replica.step}; "
                "GET /v1/sessions/{id}/x returns them", step=replica.step,
            )

    async def parameters(self, session_id: str) -> tuple[int, np.ndarray]:
        replica = await self._replica(session_id)
        async with replica.lock:
            await replica.catch_up(self.store, await self.store.head(session_id))
            if replica.optimizer is None:
                raise Conflict("the session has no parameters yet", step=0)
            return replica.step, replica.optimizer.state.x.copy()

    # --- tell ------------------------------------------------------------------------------
    async def tell_zo(self, session_id: str, values: inputs.ZOValues, answer: str) -> tuple[dict, np.ndarray | None]:
        """Apply one ZO step, or record part of it.  Raises Conflict, Invalid, NotFound."""
        replica = await self._replica(session_id)
        async with replica.lock:
            await replica.settle()
            inputs.require_method(replica.config, "zo-adamm")
            f_x, f_plus, f_minus = inputs.zo_arrays(values, replica.config)
            digest = journal.request_digest(np.asarray(values.indices or [], np.int64), f_x, f_plus, f_minus)
            parts = None if values.indices is None else inputs.part_rows(values.indices, f_x, f_plus, f_minus)
            repeat = await self._repeat_or_sync(replica, values.step, digest, answer, parts)
            if repeat is not None:
                return repeat
            all_parts = None
            if parts is not None:
                gathered = await self._gather_parts(replica, values.step, parts, digest, answer)
                if isinstance(gathered, tuple):  # pending, or the answer to a repeated part
                    return gathered
                all_parts = tuple(gathered[i] for i in range(replica.config.directions))
                f_x, f_plus, f_minus = inputs.part_columns(all_parts, replica.config)
                digest = journal.request_digest(f_x, f_plus, f_minus)
            trace.reported_f.set(trace.f_of(f_x, f_plus, f_minus))
            make = lambda: replica.optimizer.zo_record(f_x, f_plus, f_minus)  # noqa: E731
            return await self._commit(replica, make, digest, answer, all_parts)

    async def tell_fo(self, session_id: str, step: int, gradient: np.ndarray, answer: str) -> tuple[dict, np.ndarray | None]:
        """Apply one first-order step with an exact gradient.  Raises Conflict, Invalid, NotFound."""
        replica = await self._replica(session_id)
        async with replica.lock:
            await replica.settle()
            inputs.require_method(replica.config, "adamm")
            gradient = inputs.vector("gradient", gradient, replica.config.dim)
            digest = journal.request_digest(gradient)
            repeat = await self._repeat_or_sync(replica, step, digest, answer)
            if repeat is not None:
                return repeat
            return await self._commit(replica, lambda: replica.optimizer.fo_record(gradient), digest, answer)

    async def _repeat_or_sync(self, replica: Replica, step: int, digest: str, answer: str, parts=None):
        """The answer to a repeated tell, None for the open step, or Conflict for any other."""
        if replica.optimizer is None or step != replica.step:
            await replica.catch_up(self.store)  # our copy may be behind another replica
        if replica.optimizer is None:
            raise Conflict("the session has no parameters yet: send x with the first ask", step=0)
        if _is_repeat(replica, step, digest, parts):
            return self._answer(replica, answer)
        if step != replica.step:
            why = "already applied" if step < replica.step else "not open yet"
            raise Conflict(f"step {step} is {why}; the session is at step {replica.step}", step=replica.step)
        return None

    async def _commit(self, replica: Replica, make_record, digest: str, answer: str, parts=None):
        """Append the step built by ``make_record`` (from the current lr and mu) and apply it."""
        for _ in range(COMMIT_TRIES):
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused just below
                record = inputs.invalid_on_error(make_record)
            inputs.check_size(record, replica.config)
            # every event keeps the checksum, so any replica can answer a repeat in either form
            event = journal.Event(
                journal.STEP, record.step, digest, record,
                checksum_before=replica.checksum(), parts=parts, mu=replica.optimizer.mu,
            )
            try:
                await self.store.append(replica.meta.id, replica.seq, journal.encode_step(event))
            except Conflict:
                await replica.catch_up(self.store)  # someone else wrote this step: was it ours?
                if _is_repeat(replica, record.step, digest, None):
                    return self._answer(replica, answer)
                if replica.step == record.step:
                    continue  # only a metric moved the head: build the step again with its lr and mu
                raise Conflict(f"the session moved on to step {replica.step}", step=replica.step) from None
            return await self._applied(replica, event, answer)
        raise Conflict("the session is too busy to take this step now; retry", step=replica.step)

    async def _applied(self, replica: Replica, event: journal.Event, answer: str):
        step = event.step
        await trace.record(self.store, replica, event, self.settings.trace_points)
        if answer == ANSWER_CHECKSUM:
            # The answer does not need the new x: apply it while the client evaluates the next step.
            replica.deferred = asyncio.ensure_future(replica.run(replica.apply_then_checksum, event))
            replica.last = LastStep.of(event)
            result = self._answer(replica, answer, next_step=step + 1)
        else:
            await replica.run(replica.apply_event, event)
            result = self._answer(replica, answer)
            # the checksum the next step's event keeps: after the answer, not before it
            replica.deferred = asyncio.ensure_future(replica.run(replica.checksum))
        if (step + 1) % self.settings.checkpoint_every == 0:
            await replica.settle()
            self._save_checkpoint(replica)
        return result

    def _answer(self, replica: Replica, answer: str, next_step: int | None = None):
        opt, last = replica.optimizer, replica.last
        # lr and mu as the step left them, so a repeat after a metric still gets the same answer
        lr, mu = (opt.lr, opt.mu) if last.mu is None else (last.lr, last.mu)
        fields = {"step": replica.step if next_step is None else next_step, "lr": lr, "mu": mu}
        if answer == ANSWER_CHECKSUM:
            fields.update(step_lr=last.lr, checksum=last.checksum_before)
            coefficients = None if last.coefficients is None else last.coefficients.tolist()
            fields["coefficients"] = coefficients
            return fields, None
        return fields, opt.state.x

    async def _gather_parts(self, replica, step: int, parts: dict[int, str], digest: str, answer: str):
        """All q reports of ``step`` (index -> row) once they are in; otherwise the answer:
        202 with the directions still missing, or a repeat's answer.  Raises Conflict."""
        reported = await self.store.add_partials(replica.meta.id, step, parts)
        changed = sorted(i for i, row in parts.items() if reported.get(i) != row)
        missing = sorted(set(range(replica.config.directions)) - set(reported))
        if not changed and not missing:
            return reported
        if await self.store.head(replica.meta.id) != replica.seq:
            # another replica appended since we looked: the step may be closed
            await replica.catch_up(self.store)
            repeat = await self._repeat_or_sync(replica, step, digest, answer, parts)
            if repeat is not None:
                return repeat
        if changed:
            raise Conflict(f"directions {changed} of step {step} were already reported with other values", step=step)
        return self._pending(replica, missing), None

    def _pending(self, replica: Replica, missing: list[int]) -> dict:
        opt = replica.optimizer
        return {"step": opt.step, "pending": missing, "lr": opt.lr, "mu": opt.mu}

    # --- metrics ---------------------------------------------------------------------------
    async def report(self, session_id: str, value: float, named: dict[str, float]) -> dict:
        """Feed the plateau schedule; returns lr and mu after it.  Raises Conflict, Invalid, NotFound."""
        replica = await self._replica(session_id)
        async with replica.lock:
            for _ in range(3):  # another writer may append between our read and our write
                await replica.catch_up(self.store, await self.store.head(session_id))
                if replica.optimizer is None:
                    raise Conflict("the session has no parameters yet", step=0)
                opt = replica.optimizer
                if RESERVED_METRICS & named.keys():
                    raise Invalid(f"metrics cannot be named {sorted(RESERVED_METRICS & named.keys())}")
                saved = (opt.plateau, opt.lr, opt.mu)
                inputs.invalid_on_error(opt.report, value)
                entry = {"step": opt.step, "value": value, "lr": opt.lr, "mu": opt.mu, "time": time.time(), **named}
                opt.plateau, opt.lr, opt.mu = saved
                try:
                    await self.store.append(
                        session_id, replica.seq, journal.encode_metric(opt.step, value), json.dumps(entry)
                    )
                except Conflict:
                    continue
                replica.apply_event(journal.Event(journal.METRIC, opt.step, value=value))
                return entry
            raise Conflict("the session is too busy to take a metric now; retry", step=replica.step)

    async def metrics(self, session_id: str, last: int | None) -> list[dict]:
        return [json.loads(m) for m in await self.store.metrics(session_id, last)]

    # --- cache -----------------------------------------------------------------------------
    async def _replica(self, session_id: str) -> Replica:
        replica = self._cache.get(session_id)
        if replica is None:
            meta = await self.store.meta(session_id)
            # setdefault: a concurrent request may have cached it meanwhile, and its lock counts
            replica = self._cache.setdefault(session_id, Replica(meta, SessionConfig.from_dict(meta.config)))
            self._cache.move_to_end(session_id)
            self._evict(keep=session_id)
        self._cache.move_to_end(session_id)
        return replica

    def _evict(self, keep: str) -> None:
        """Drop the least recently used replicas over ``cache_bytes``, never ``keep`` (the one
        being asked for) nor one that is busy."""
        total = sum(r.nbytes for r in self._cache.values())
        for session_id in list(self._cache):
            if total <= self.settings.cache_bytes or len(self._cache) <= 1:
                break
            replica = self._cache[session_id]
            busy = replica.lock.locked() or (replica.deferred is not None and not replica.deferred.done())
            if session_id == keep or busy:
                continue
            total -= replica.nbytes
            del self._cache[session_id]

    def _save_checkpoint(self, replica: Replica) -> None:
        blob = journal.encode_checkpoint(replica.optimizer, replica.seq, replica.last)  # a snapshot: bytes copies
        task = asyncio.ensure_future(self.store.save_checkpoint(replica.meta.id, replica.seq, blob))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _view(self, replica: Replica) -> dict:
        view = _summary(replica.meta)
        opt = replica.optimizer
        view.update(
            step=replica.step, has_parameters=opt is not None,
            lr=opt.lr if opt else replica.config.lr, mu=opt.mu if opt else replica.config.mu,
            recent_metrics=await self.metrics(replica.meta.id, self.settings.recent_metrics),
        )
        return view


def _summary(meta: SessionMeta) -> dict:
    return {"id": meta.id, "name": meta.name, "created": meta.created, "config": meta.config}


def _is_repeat(replica: Replica, step: int, digest: str, parts: dict[int, str] | None) -> bool:
    """Whether these values are the ones step ``step`` was applied with (the newest step only)."""
    last = replica.last
    if last is None or last.step != step or replica.step != step + 1:
        return False
    if parts is None:
        return last.digest == digest
    return last.parts is not None and all(last.parts[i] == row for i, row in parts.items())
