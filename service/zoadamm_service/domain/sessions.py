"""The session rules: create, ask, tell, metrics.  Routes call these (and ``leases.Leases``,
built around them, for leased asks and tells) for everything they do to a session.

Flow of a tell for step t (the hot path): validate the values, turn them into a journal event
(q coefficients), append it to the store *conditionally on the head we hold* (its count and its
history's tag: ``store.history``), then apply it to the cached state.  The append is the
acknowledgement: once it returns, the step survives any crash, and a repeated tell finds it and
gets the same answer (once ``store.replicated``).
"""

from __future__ import annotations

import builtins
import json
import secrets
import time
import uuid
from collections.abc import Callable

import numpy as np

from zoadamm import AnswerMode, SessionConfig, StepRecord, directions, require_input
from zoadamm.wire import SAFE_INT

from ..errors import Conflict, NotFound, ServiceBusy, StepInParts
from ..settings import Settings
from ..store import SessionMeta, Store
from . import inputs, journal, limits, offload, split, trace
from .answers import AskAnswer, Parameters, SessionPublic, SessionSummary, TellAnswer
from .cache import ReplicaCache
from .ids import RequestKey, is_session_id, session_id_for
from .replica import Replica
from .split import NextLease, Told
from .telemetry import Silent, Telemetry

# A record appended by another replica moves the head without closing the step: a write that
# lost its conditional append to one is built again on the new head, this many times at most.
COMMIT_TRIES = 3
# what a client whose step closed without it does next: the open step's x and seed come with an ask
AGAIN = ": ask again for the open step, and evaluate at its x"


class Sessions:
    def __init__(self, store: Store, settings: Settings, telemetry: Telemetry | None = None) -> None:
        self.store = store
        self.settings = settings
        self.telemetry = telemetry or Silent()
        self.replicas = ReplicaCache(store, settings.cache_bytes)
    # --- lifecycle -------------------------------------------------------------------------
    async def create(self, tenant: str, config: dict, name: str | None, x0: np.ndarray | None,
                     key: RequestKey | None = None, vectors: dict[str, np.ndarray] | None = None) -> SessionPublic:
        """A new session of ``tenant``; with ``key``, a repeat gets the first answer.  ``vectors``:
        the config's vectors sent apart from its JSON (``SessionConfig.vectors``).  Raises Invalid
        for a bad config or x0, one over the limits, a key reused; QuotaExceeded past the quota."""
        limits.check_config(self.settings, config)
        if config.get("seed") is None:
            config = {**config, "seed": secrets.randbelow(SAFE_INT + 1)}  # exact in every JSON client
        cfg = inputs.session_config(config, vectors)
        limits.check_work(self.settings, cfg)
        # with a key, the id follows from it: a repeat names the same session, in the same slot
        session_id = uuid.uuid4().hex if key is None else session_id_for(tenant, key.key)
        meta = SessionMeta(session_id, tenant, name, cfg.to_dict(), time.time(), journal.encode_config_vectors(cfg))
        quota = limits.quota(self.settings, cfg, meta)
        checkpoint = None
        if x0 is not None:
            checkpoint = await offload.run_sized(offload.work_of(cfg), _first_checkpoint, cfg, x0)
        answer = SessionPublic(**meta.summary(), vectors=cfg.vectors(), step=0, has_parameters=x0 is not None,
                               lr=cfg.lr, mu=cfg.mu, recent_metrics=[])
        record = None if key is None else key.record(json.dumps(answer.model_dump()), self.settings.idempotency_ttl_s)
        replayed = await self.store.create(meta, checkpoint, record, quota)
        return answer if replayed is None else SessionPublic(**json.loads(replayed))

    async def view(self, tenant: str, session_id: str) -> SessionPublic:
        replica = await self.owned(tenant, session_id)
        async with replica.locked():
            await replica.catch_up(self.store, await self.store.head(session_id, replica.meta.created))
            opt = replica.optimizer
            return SessionPublic(
                **replica.meta.summary(), vectors=replica.config.vectors(), step=replica.step,
                has_parameters=opt is not None,
                lr=opt.lr if opt else replica.config.lr, mu=opt.mu if opt else replica.config.mu,
                recent_metrics=await self._recent_metrics(session_id),
            )

    async def _recent_metrics(self, session_id: str) -> builtins.list[dict]:
        rows = await self.store.metrics(session_id, self.settings.recent_metrics)
        return [json.loads(m) for m in limits.newest_within(rows, self.settings.recent_metrics_bytes)]

    async def list(self, tenant: str, offset: int, limit: int) -> tuple[builtins.list[SessionSummary], int]:
        metas, total = await self.store.list(tenant, offset, limit)
        return [SessionSummary(**m.summary()) for m in metas], total

    async def delete(self, tenant: str, session_id: str) -> None:
        await self.owned(tenant, session_id)
        await self.store.delete(session_id)
        self.replicas.forget(session_id)

    async def owned_meta(self, tenant: str, session_id: str) -> SessionMeta:
        """The session's meta, for reads beside the replica (trace, dashboard).  Raises NotFound."""
        return (await self.owned(tenant, session_id)).meta

    async def owned(self, tenant: str, session_id: str) -> Replica:
        """The session's replica, if ``tenant`` owns it.  Any other tenant, and any id not of the
        exact format, gets the NotFound a missing session gets, before the store is touched."""
        if not is_session_id(session_id):
            raise NotFound("no session with this id")
        replica = await self.replicas.get(session_id, tenant)
        if ((ttl := self.store.ttl_s) or not replica.touched_at) and replica.touch_due(ttl):  # spares the tell a call
            await replica.touch(self.store)
        return replica

    async def aclose(self) -> None:
        await self.replicas.aclose()

    # --- ask -------------------------------------------------------------------------------
    async def ask(self, tenant: str, session_id: str, x: np.ndarray | None, with_vectors: bool,
                  bytes_per_value: int = 4) -> AskAnswer:
        """The open step's directions.  ``x`` sets the parameters before the first step and must
        equal them after it; vectors go when their answer fits.  Raises Conflict, Invalid, NotFound."""
        replica = await self.owned(tenant, session_id)
        async with replica.locked():
            await replica.catch_up(self.store, await self.store.head(session_id, replica.meta.created))
            cfg, sending = replica.config, with_vectors and replica.config.takes_values
            if sending:  # refused before x sets the parameters: a refused call changes nothing
                limits.check_answer_size(self.settings, cfg.directions * cfg.dim, bytes_per_value)
            if x is not None:
                await self._check_or_start(replica, x)
            opt, u = replica.started(), None
            if sending:
                u = await replica.run(directions, cfg.seed, opt.step, cfg.directions, cfg.dim, cfg.distribution)
            return replica.opened(u=u)

    async def _check_or_start(self, replica: Replica, x: np.ndarray) -> None:
        """Parameters are set once (x0 or the first ask's x) and checked after."""
        x = await replica.run(inputs.vector, "x", x, replica.config.dim)
        if replica.optimizer is None:
            optimizer = await replica.run(inputs.start_optimizer, replica.config, x, "x")
            try:
                await self.store.start(replica.meta.id, await replica.run(journal.encode_checkpoint, optimizer, 0))
            except Conflict:  # another replica set them first
                await replica.catch_up(self.store)
            else:
                replica.start(optimizer)
                return
        x = await replica.run(inputs.as_started, replica.config, x)
        if not await replica.run(np.array_equal, replica.started().state.x, x):
            raise Conflict(f"x differs from the session's parameters at step {replica.step}; "
                           "GET /v1/sessions/{id}/x returns them", step=replica.step)

    async def parameters(self, tenant: str, session_id: str) -> Parameters:
        replica = await self.owned(tenant, session_id)
        async with replica.locked():
            await replica.catch_up(self.store, await self.store.head(session_id, replica.meta.created))
            return Parameters(step=replica.step, x=replica.started().state.x.copy())

    # --- tell ------------------------------------------------------------------------------
    async def tell_zo(self, tenant: str, session_id: str, values: inputs.ZOValues, mode: AnswerMode,
                      next_lease: NextLease | None = None) -> Told:
        """Apply one ZO step, or record part of it; with ``next_lease``, the part also leases
        directions of the next step, and looks whether another replica closed the step only when
        that lease was refused (it is, once the head moved): then the part is a repeat of the
        closed step's values, or 409.  Raises Conflict, Invalid, NotFound."""
        replica = await self.owned(tenant, session_id)
        async with replica.locked():
            await replica.settle()
            inputs.invalid_on_error(require_input, replica.config, "values")
            f_x, f_plus, f_minus = inputs.zo_arrays(values, replica.config)
            digest = journal.request_digest(np.asarray(values.indices or [], np.int64), f_x, f_plus, f_minus)
            parts = None if values.indices is None else split.part_rows(values.indices, f_x, f_plus, f_minus)
            repeat = await self._repeat_or_open(replica, values.step, digest, mode, parts)
            if repeat is not None:
                return Told(repeat)
            if parts is None:  # the whole step in one tell: applied, unless some of it came apart before
                try:
                    return Told(await self._commit_zo(replica, f_x, f_plus, f_minus, digest, mode))
                except StepInParts:  # then this tell's reports are compared with theirs, in the same write
                    rows = split.part_rows(list(range(replica.config.directions)), f_x, f_plus, f_minus)
                    return Told(await self._commit_zo(replica, f_x, f_plus, f_minus, digest, mode,
                                                      tuple(rows.values()), (values.step, rows)))
            inputs.invalid_on_error(split.check_part, f_x, f_plus, f_minus, replica.config, replica.started().mu)
            gathered, granted = await split.gather(self.store, self.settings.lease_seconds, replica, values.step,
                                                   parts, next_lease)
            if gathered.rows is None:
                look = granted is None or granted.leased is None  # no lease asked, or refused: closed?
                pending = await self._incomplete(replica, values.step, gathered, digest, mode, parts, look=look)
                return Told(pending, granted)
            f_x, f_plus, f_minus = split.part_columns(gathered.rows, replica.config)
            digest = journal.request_digest(f_x, f_plus, f_minus)
            return Told(await self._commit_zo(replica, f_x, f_plus, f_minus, digest, mode, gathered.rows), granted)

    async def _commit_zo(self, replica: Replica, f_x, f_plus, f_minus, digest: str, mode: AnswerMode,
                         parts: tuple[str, ...] | None = None, rows: split.StepRows | None = None) -> TellAnswer:
        # built on each try from the replica's optimizer, which catching up may replace
        make = lambda: replica.started().zo_record(f_x, f_plus, f_minus)  # noqa: E731
        return await self._commit(replica, make, digest, mode, parts, trace.f_of(f_x, f_plus, f_minus), rows)

    async def tell_fo(self, tenant: str, session_id: str, step: int, gradient: np.ndarray,
                      mode: AnswerMode) -> TellAnswer:
        """Apply one first-order step with an exact gradient.  Raises Conflict, Invalid, NotFound."""
        replica = await self.owned(tenant, session_id)
        async with replica.locked():
            await replica.settle()
            inputs.invalid_on_error(require_input, replica.config, "gradient")
            gradient = await replica.run(inputs.vector, "gradient", gradient, replica.config.dim)
            digest = await replica.run(journal.request_digest, gradient)
            repeat = await self._repeat_or_open(replica, step, digest, mode)
            if repeat is not None:
                return repeat
            return await self._commit(replica, lambda: replica.started().fo_record(gradient), digest, mode)

    async def _repeat_or_open(self, replica: Replica, step: int, digest: str, mode: AnswerMode,
                              parts: dict[int, str] | None = None) -> TellAnswer | None:
        """The answer to a repeated tell, None for the open step, or Conflict for any other."""
        if replica.optimizer is None or step != replica.step:
            await replica.catch_up(self.store)  # our copy may be behind another replica
        replica.started()
        if replica.is_repeat(step, digest, parts):
            return await self._repeated(replica, step, mode)
        if step != replica.step:
            why = "already applied" if step < replica.step else "not open yet"
            raise Conflict(f"step {step} is {why}; the session is at step {replica.step}{AGAIN}", step=replica.step)
        return None

    async def _repeated(self, replica: Replica, step: int, mode: AnswerMode) -> TellAnswer:
        """The answer to a repeat of the applied ``step``, once the store knows this replica has
        seen it, and its checkpoint if one was due (the first call may have failed after the
        store took it)."""
        await self.store.replicated(replica.meta.id, replica.seq)
        await self._checkpoint_if_due(replica, step)
        return replica.answer(mode)

    async def _incomplete(self, replica: Replica, step: int, gathered: split.Gathered, digest: str,
                          mode: AnswerMode, parts: dict[int, str], look: bool = True) -> TellAnswer:
        """A split step without all its parts: 202 with what is missing, a repeat's answer, or
        Conflict for a direction reported before with other values."""
        if look and not replica.holds(await self.store.head(replica.meta.id, replica.meta.created)):
            # another replica appended since we looked: the step may be closed
            await replica.catch_up(self.store)
            repeat = await self._repeat_or_open(replica, step, digest, mode, parts)
            if repeat is not None:
                return repeat
        if gathered.changed:
            raise Conflict(gathered.refusal(step), step=step)
        return replica.pending(gathered.missing)

    async def _commit(self, replica: Replica, make_record: Callable[[], StepRecord], digest: str,
                      mode: AnswerMode, parts: tuple[str, ...] | None = None, f: float | None = None,
                      rows: split.StepRows | None = None) -> TellAnswer:
        """Append the step built by ``make_record`` (from the current lr and mu) and apply it."""
        for _ in range(COMMIT_TRIES):
            record = inputs.invalid_on_error(make_record)  # a gradient that would overflow included
            await replica.check_finite(record)
            # every event keeps the checksum, so any replica can answer a repeat in either form
            event = journal.Event(
                journal.STEP, record.step, digest, record,
                checksum_before=replica.checksum(), parts=parts, mu=replica.started().mu,
            )
            point = trace.point_for(event, f, replica.config, self.settings.trace_points)
            try:
                await replica.append(self.store, journal.encode_step(event), trace=point, whole=parts is None,
                                     rows=rows)
            except StepInParts as apart:
                if rows is None:
                    raise  # the caller sends its reports, to be compared with theirs
                other = apart.details["other"]
                raise Conflict(split.Gathered(None, [], [other]).refusal(record.step), step=record.step) from None
            except Conflict:
                await replica.catch_up(self.store)  # someone else wrote this step: was it ours?
                if replica.is_repeat(record.step, digest):
                    return await self._repeated(replica, record.step, mode)
                if replica.step == record.step:
                    continue  # only a metric moved the head: build the step again with its lr and mu
                raise Conflict(f"the session moved on to step {replica.step}{AGAIN}", step=replica.step) from None
            return await self._applied(replica, event, mode)
        raise ServiceBusy("the session is too busy to take this step now; retry", step=replica.step)

    async def _applied(self, replica: Replica, event: journal.Event, mode: AnswerMode) -> TellAnswer:
        self.telemetry.step_committed(replica.config.method, replica.config.evaluations_per_step)
        if mode is AnswerMode.CHECKSUM:
            replica.apply_later(event)  # the answer does not need the new x
            result = replica.answer(mode, next_step=event.step + 1)
        else:
            await replica.apply_now(event)
            result = replica.answer(mode)
        if (event.step + 1) % self.settings.checkpoint_every == 0:  # ``_checkpoint_if_due``, on the tell's path
            await self._checkpoint_if_due(replica, event.step)
        return result

    async def _checkpoint_if_due(self, replica: Replica, step: int) -> None:
        """The state after every ``checkpoint_every``-th step, also where a repeat of it is answered:
        its first call may have failed (a 503) after the store took it (a no-op if already saved)."""
        if (step + 1) % self.settings.checkpoint_every == 0:
            await replica.settle()
            await self.replicas.save_checkpoint(replica)


def _first_checkpoint(config: SessionConfig, x0: np.ndarray) -> bytes:
    """The checkpoint of a session started at ``x0``.  Raises Invalid for a bad x0."""
    return journal.encode_checkpoint(inputs.start_optimizer(config, x0), 0)
