"""Job: run one queued request when its environment is free.

The environment lease makes runs of one environment strictly one at a time; the queue in
PostgreSQL keeps their order. When a run ends, the next queued request of that environment
is enqueued, so nobody has to ask again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import psycopg

from service import queue
from service.config.layout import for_tree
from service.config.load import ConfigError
from service.dashboard import repo_config
from service.github.client import InstallationClient
from service.ledger import leases, requests
from service.ledger.deployments import Ledger
from service.ledger.rows import RequestRow
from service.observability import logs
from service.observability.jobs import observed_job
from workers import messages
from workers.accept import show_queued
from workers.deploy import DeployRequest, run_deployment
from workers.gates.gather import gather
from workers.gates.promotion import promotion_for
from workers.github_source import fetch_source, load_config
from workers.jobs.context import WorkerContext
from workers.jobs.deliver_report import (
    CHECK_RUN,
    DEPLOYMENT_STATUS,
    ESCALATION,
    FIRST_RETRY_S,
    SUMMARY_COMMENT,
)
from workers.jobs.watch import start_watch
from workers.notify import github_announcer
from workers.plans import RollbackRefused, deploy_steps, prepare_rollback
from workers.reporters.github_check_run import CheckRunReporter
from workers.reporters.github_comment import SummaryCommentReporter
from workers.reporters.github_deployment import DeploymentStatusReporter
from workers.reporters.github_escalation import EscalationReporter
from workers.reporters.tracked import Tracked, undelivered
from workers.runbook.events import Outcome, Reporter
from workers.runbook.run_state import RunState
from workers.source import SourceError

log = logging.getLogger(__name__)


async def kick_next(ctx: WorkerContext, repo: str, environment: str, *,
                    fresh: bool = True) -> int | None:
    """Make sure the oldest queued request of the environment has a job. `fresh=False` only
    re-creates the job accept() gave it if Redis lost it: a waiting request's job uses that,
    so that queued requests do not keep enqueuing jobs for their elders that find the
    environment busy (benchmarks/queue_throughput.py: 2.7 jobs per request with 4 workers)."""
    async with ctx.db.connection() as conn:
        nxt = await requests.oldest_queued(conn, repo, environment)
    if nxt is None:
        return None
    await queue.enqueue(ctx.redis, ctx.prefix, "run_request",
                        queue.request_job_id(ctx.prefix, nxt["id"], _attempt() if fresh else 0),
                        nxt["id"], ahead=True)
    return int(nxt["id"])


def _attempt() -> int:
    # A new job id each time we kick: a finished job's id stays taken while arq keeps its
    # result, and the request itself is guarded in PostgreSQL (only 'queued' runs).
    import time

    return int(time.time() * 1000)


class Heartbeat:
    """Renews the lease while a deployment runs; a lost lease stops the run."""

    def __init__(self, ctx: WorkerContext, lease: leases.Lease) -> None:
        self.ctx, self.lease = ctx, lease
        self.lost = False
        self._task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.lease_ttl / 3)
            try:
                async with self.ctx.db.connection() as conn:
                    if not await leases.renew(conn, self.lease, self.ctx.lease_ttl):
                        self.lost = True
                        return
            except Exception:  # a blip: the next beat retries well before expiry
                log.warning("lease renewal failed", exc_info=True)

    async def stop_check(self) -> str | None:
        if self.lost:
            return "this worker lost the environment lease (it paused too long); stopping"
        return None

    def __enter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._beat())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


@observed_job("request_id")
async def run_request(arq_ctx: dict[str, Any], request_id: int) -> str:
    ctx: WorkerContext = arq_ctx["deploybot"]
    turn = await _take_turn(ctx, request_id)
    if isinstance(turn, str):
        return turn
    req, lease = turn
    try:
        # Renewed from the moment it is held: fetching the source and opening the reports
        # can outlast the TTL on a busy worker (tests/queue/test_lease_renewal.py).
        with Heartbeat(ctx, lease) as beat:
            outcome = await _execute(ctx, req, beat)
    finally:
        async with ctx.db.connection() as conn:
            await requests.finish(conn, request_id)
            await leases.release(conn, lease)
        await kick_next(ctx, req["repo"], req["environment"])
    return f"request {request_id}: {outcome}"


async def _take_turn(ctx: WorkerContext, request_id: int
                     ) -> tuple[RequestRow, leases.Lease] | str:
    """The request and its environment's lease when it is the request's turn; else why not.
    Kicks (outside any held connection) make sure the request whose turn it is has a job."""
    fresh = True
    async with ctx.db.connection() as conn:
        req = await requests.get(conn, request_id)
        if req is None:
            return f"request {request_id} is unknown"
        repo, environment = req["repo"], req["environment"]
        if req["status"] in ("cancelled", "superseded"):
            # Withdrawn before its turn: the next request's job may have come and gone while
            # this one was ahead of it, and no deployment will end to start it.
            why = f"request {request_id} is {req['status']}"
        elif req["status"] != "queued":
            return f"request {request_id} is {req['status']}"
        elif (oldest := await requests.oldest_queued(conn, repo, environment)) is not None \
                and oldest["id"] != request_id:
            # Its elder runs when its own job comes, or when the running deployment ends.
            fresh = False
            why = f"waiting behind request {oldest['id']}"
        else:
            lease = await leases.acquire(conn, repo, environment, holder=ctx.worker_id,
                                         request_id=request_id, ttl=ctx.lease_ttl)
            if lease is None:  # whoever holds it starts the next request when done
                return f"{environment} is busy; request {request_id} waits its turn"
            # Look again under the lease: another worker may have run this request to the
            # end between our first look and our taking the lease; running it again would
            # deploy it twice (tests/queue/test_run_request_races.py).
            again = await requests.get(conn, request_id)
            if again is not None and again["status"] == "queued":
                return again, lease
            await leases.release(conn, lease)  # a job kicked meanwhile found it busy
            why = f"request {request_id} is {again['status'] if again else 'unknown'}"
    await kick_next(ctx, repo, environment, fresh=fresh)
    return why


class _Withdrawn(Exception):
    pass


async def _show_not_started(ctx: WorkerContext, client: InstallationClient, repo: str,
                            req: RequestRow, exc: Exception) -> None:
    why = str(exc) if isinstance(exc, SourceError | ConfigError) else \
        messages.NOT_STARTED_FETCH.format(error=type(exc).__name__)
    output = messages.not_started_output(req["commit_sha"], why)
    try:
        if req["check_run_id"]:
            await client.update_check_run(repo, req["check_run_id"], status="completed",
                                          conclusion="failure", output=output)
        if req["gh_deployment_id"]:
            await client.create_deployment_status(
                repo, req["gh_deployment_id"], state="error", description=output["title"],
                log_url=ctx.request_url(req["id"]))
    except Exception:
        log.warning("could not report request %s as not started", req["id"], exc_info=True)


async def _show_withdrawn(client: InstallationClient, repo: str, req: RequestRow,
                          check_run_id: int,
                          conn: psycopg.AsyncConnection[Any]) -> None:
    now = await requests.get(conn, req["id"])
    status = now["status"] if now else "cancelled"
    try:
        await client.update_check_run(
            repo, check_run_id, status="completed",
            conclusion="cancelled" if status == "cancelled" else "skipped",
            output=messages.withdrawn_output(status, req["requested_by"]))
    except Exception:
        log.warning("could not conclude withdrawn request %s on GitHub", req["id"],
                    exc_info=True)


async def _show_started(client: InstallationClient, repo: str, req: RequestRow,
                        check_run_id: int) -> None:
    """Mark the check run in progress with its start time. Best effort: the first step's
    report says it again, so a failure here costs only the early sight of it."""
    try:
        await client.update_check_run(
            repo, check_run_id, status="in_progress", started_at=datetime.now(UTC),
            output=messages.starting_output(req["kind"], req["commit_sha"]))
    except Exception as exc:
        log.warning("request %s: could not mark the check run in progress yet (%s)",
                    req["id"], type(exc).__name__)


async def _execute(ctx: WorkerContext, req: RequestRow, beat: Heartbeat) -> str:
    repo, env_name = req["repo"], req["environment"]
    assert req["installation_id"] is not None  # requests run by a worker came through GitHub
    client = ctx.github.installation(req["installation_id"])
    # The commit and the configuration are fetched side by side; a configuration error
    # still wins (it is said first, as before).
    fetching = asyncio.create_task(fetch_source(client, repo, req["commit_sha"],
                                                ctx.settings.data_dir / "checkouts"))
    early_run = req["check_run_id"]  # shown in progress from now, not after the fetch
    if early_run is not None:
        await _show_started(client, repo, req, early_run)
    try:
        info = await client.get_repo(repo)
        config = await load_config(client, repo, str(info.get("default_branch") or "main"))
        await repo_config.remember(ctx.redis, ctx.prefix, repo, config)  # for the dashboard
        source = await fetching
    except BaseException as exc:
        fetching.cancel()  # a no-op once it has ended
        with contextlib.suppress(BaseException):
            await fetching
        if isinstance(exc, Exception):
            # Nothing ran and nothing will: say so where it was shown queued or in progress.
            await _show_not_started(ctx, client, repo, req, exc)
        raise
    env = config.environment(env_name)
    if req["check_run_id"] is None or (req["gh_deployment_id"] is None
                                       and req["kind"] != "dry_run"):
        # Started (by the reconciler) before its acceptance finished showing it on GitHub,
        # or after that acceptance died: report to the check run it has or will have.
        req = await show_queued(ctx, client, req["id"], look_first=True,
                                production=bool(env and env.production),
                                environment_url=ctx.environment_url(repo, env, env_name)) or req
    dreq = DeployRequest(repo=repo, environment=env_name, source=source, config=config,
                         dry_run=req["kind"] == "dry_run", trigger=req["trigger"],
                         requested_by=req["requested_by"], pr_number=req["pr_number"],
                         forced_reason=req["forced_reason"])
    async with ctx.db.connection() as conn:
        ledger = Ledger(conn)
        steps = ctx.plan(req["kind"]) if ctx.plan is not None else None
        state = RunState()
        rollback_of = req["rollback_target"] if req["kind"] == "rollback" else None
        refused = None
        if rollback_of is not None and steps is None:
            try:
                steps, state = await prepare_rollback(ledger, rollback_of)
            except RollbackRefused as exc:
                refused = str(exc)
        plan = steps or deploy_steps(env)
        try:
            async with conn.transaction():
                deployment_id = await ledger.create_deployment(
                    repo=repo, environment=env_name, kind=req["kind"],
                    commit_sha=req["commit_sha"], ref=req["ref"] or "",
                    trigger=req["trigger"], requested_by=req["requested_by"],
                    pr_number=req["pr_number"], rollback_of=rollback_of,
                    forced_reason=req["forced_reason"],
                    steps=[(x.name, x.title) for x in plan])
                if not await requests.start(conn, req["id"], deployment_id):
                    raise _Withdrawn  # the deployment record goes with the transaction
        except _Withdrawn:
            # /cancel or a newer request from the same pull request took it back while we
            # fetched the source; it was reported withdrawn, so it must not run
            # (tests/queue/test_run_request_races.py).
            if early_run is not None:  # our "in progress" may have come after that report
                await _show_withdrawn(client, repo, req, early_run, conn)
            return "withdrawn before it started"
        logs.bind(deployment_id=deployment_id, delivery_id=req["delivery_id"])
        log_url = ctx.log_url(deployment_id)
        if refused is not None:
            await ledger.finish(deployment_id, status="failed", reason=refused)
            if req["check_run_id"]:
                with contextlib.suppress(Exception):
                    await client.update_check_run(
                        repo, req["check_run_id"], status="completed", conclusion="failure",
                        output={"title": "Rollback refused", "summary": refused})
            return f"refused: {refused}"
        final: list[Tracked] = []  # reports that must arrive, later if not now
        promotion = promotion_for(ctx, client, config, environment=env_name, kind=req["kind"],
                                  repo=repo, commit=req["commit_sha"],
                                  pr_number=req["pr_number"])
        if req["check_run_id"]:
            final.append(Tracked(CheckRunReporter(
                client, repo, req["check_run_id"], log_url=log_url, promotion=promotion,
                resumed=early_run is not None), CHECK_RUN))
        if req["gh_deployment_id"]:
            final.append(Tracked(DeploymentStatusReporter(
                client, repo, req["gh_deployment_id"], log_url=log_url,
                environment_url=ctx.environment_url(repo, env, env_name)), DEPLOYMENT_STATUS))
        if env is not None:
            final.append(Tracked(EscalationReporter(
                client, repo, deployment_id=deployment_id, pr_number=req["pr_number"],
                requested_by=req["requested_by"], lead=env.lead, production=env.production,
                log_url=log_url), ESCALATION))
        if req["pr_number"]:
            final.append(Tracked(SummaryCommentReporter(
                client, repo, req["pr_number"], req["id"], log_url=log_url,
                check_run_id=req["check_run_id"], promotion=promotion), SUMMARY_COMMENT))
        reporters: list[Reporter] = list(final)
        announce = None
        if env is not None and env.production and req["kind"] != "rollback":
            state.gate_facts = await gather(
                ledger, env, repo=repo, commit=req["commit_sha"], client=client,
                pr_number=req["pr_number"], forced_reason=req["forced_reason"],
                settings=ctx.settings)
            announce = github_announcer(client, repo, req["pr_number"], env,
                                        messages.BOT_MARKER)
        result = await run_deployment(ctx.settings, ledger, dreq, reporters,
                                      deployment_id=deployment_id, steps=plan,
                                      stop_check=beat.stop_check,
                                      initial_state=state, rollback_of=rollback_of,
                                      announce=announce)
        if missed := undelivered(final):
            log.warning("request %s: GitHub did not take the final %s; sending again in "
                        "%.0f s", req["id"], ", ".join(missed), FIRST_RETRY_S)
            await requests.report_later(conn, req["id"], delay_seconds=FIRST_RETRY_S,
                                        parts=missed)
    if req["kind"] == "deploy" and result.outcome is Outcome.SUCCEEDED:
        # the smoke file it probes is where the commit's layout puts it
        await start_watch(ctx, req, result.deployment_id, for_tree(config, source.root))
    if req["comment_id"]:
        good = result.outcome in (Outcome.SUCCEEDED, Outcome.UP_TO_DATE, Outcome.PLANNED)
        with contextlib.suppress(Exception):  # a reaction is a courtesy
            await client.add_reaction_to_comment(repo, req["comment_id"],
                                                 "rocket" if good else "confused")
    return result.outcome.value
