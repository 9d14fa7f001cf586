"""functions: publish the functions at the commit as a new release and activate it.

The previous release stays stored; undo reactivates it. Activation is one committed
pointer change that every function host follows, and the step waits until the host that
serves the environment really answers with the new release, so the smoke step right after
cannot test the old code by accident.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from workers.drivers.functions import FunctionBundleError, digest_of
from workers.drivers.interfaces import DatabaseUnavailable, FunctionsUnavailable, Release
from workers.repository.function_files import FunctionLayoutError, config_toml_path, discover
from workers.runbook.context import DeployContext
from workers.runbook.step import Step, StepFailed, StepSkipped

# The host fetches the new release's dependencies (npm:, jsr:) before it switches.
SWITCH_TIMEOUT_S = 120.0
# Answers in a row that must show the release: behind a load balancer each request may
# reach another replica.
CONFIRMATIONS = 3


class HostNotSwitched(Exception):
    def __init__(self, seen: Any) -> None:
        super().__init__(f"still serves release {seen}")
        self.seen = seen


async def host_release(base_url: str, release_id: int | None, *,
                       timeout_s: float = SWITCH_TIMEOUT_S) -> dict[str, Any] | None:
    """Wait until the function host at `base_url` serves `release_id` and return its
    health's `release`; None when the URL is not a deploybot host (nothing to wait for).
    Raises HostNotSwitched after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    seen: Any = "unknown (no answer)"
    in_a_row = 0
    async with httpx.AsyncClient(timeout=5.0) as client:
        while True:
            try:
                response = await client.get(f"{base_url.rstrip('/')}/_deploybot/health")
                health = response.json() if response.status_code in (200, 503) else None
                if not isinstance(health, dict) or "ready" not in health:
                    return None  # not a deploybot function host (e.g. Supabase itself)
                release = health.get("release")
                seen = release.get("id") if isinstance(release, dict) else "none (starting)"
                if isinstance(release, dict) and release.get("id") == release_id:
                    in_a_row += 1
                    if in_a_row >= CONFIRMATIONS:
                        return release
                    continue
            except ValueError:
                return None  # an answer, but not JSON: not a deploybot host
            except httpx.HTTPError as exc:
                seen = f"unknown ({type(exc).__name__})"
            in_a_row = 0
            if loop.time() > deadline:
                raise HostNotSwitched(seen)
            await asyncio.sleep(0.1)


def _describe(release: Release | None) -> str:
    if release is None:
        return "none"
    return f"release {release.id} ({release.commit[:12]}: {', '.join(release.slugs) or '-'})"


async def _wait_for_host(ctx: DeployContext, release_id: int | None) -> None:
    if ctx.environment.functions_url is None:
        await ctx.output("no function host configured for this environment: not waiting")
        return
    url = await ctx.environment.functions_url()
    try:
        release = await host_release(url, release_id)
    except HostNotSwitched as exc:
        raise StepFailed(
            f"the function host at {url} {exc} {SWITCH_TIMEOUT_S:.0f} s after release "
            f"{release_id} was activated; check that it can reach the database",
            stop_the_line="Edge Function deployment failed") from None
    if release is None:
        await ctx.output(f"{url} is not a deploybot function host: not waiting for it to "
                         "switch")
        return
    errors: dict[str, str] = release.get("errors") or {}
    if errors:
        raise StepFailed(
            f"release {release_id} is active but {', '.join(sorted(errors))} failed to load",
            output="\n".join(f"{slug}: {why}" for slug, why in sorted(errors.items())),
            stop_the_line="Edge Function returns 500 errors")
    await ctx.output(f"function host {url} serves release {release_id}")


async def run(ctx: DeployContext) -> None:
    releases = ctx.environment.functions
    relpath = ctx.config.paths.functions
    functions_dir = ctx.source.path(relpath)
    try:
        previous = await releases.active()
    except DatabaseUnavailable as exc:
        raise StepFailed(str(exc), stop_the_line="database connection issues") from None
    ctx.state.previous_release = previous
    await ctx.journal("previous_release", previous.id if previous is not None else None)
    try:
        # A folder holding files but no function is an error, never skipped in silence.
        await asyncio.to_thread(discover, functions_dir, config_toml_path(functions_dir))
        digest = await asyncio.to_thread(digest_of, functions_dir)
    except FunctionLayoutError as exc:  # it names the folder or config.toml itself
        raise StepFailed(str(exc)) from None
    except FunctionBundleError as exc:
        raise StepFailed(f"{relpath}: {exc}") from None
    if previous is not None and previous.digest == digest:
        raise StepSkipped(f"functions unchanged (release {previous.id})")
    if previous is None and not functions_dir.is_dir():
        raise StepSkipped(f"no functions to deploy ({relpath} does not exist)")

    await ctx.progress(f"publishing {relpath} at {ctx.source.commit[:12]}")
    try:
        release = await releases.publish(functions_dir, ctx.source.commit)
    except FunctionBundleError as exc:
        raise StepFailed(f"{relpath}: {exc}") from None
    except DatabaseUnavailable as exc:
        raise StepFailed(str(exc), stop_the_line="database connection issues") from None
    await ctx.output(f"published {_describe(release)}")
    # Recorded before activating: if activation's commit is acknowledged by the server but
    # lost on the way back, undo must still put the previous release back.
    ctx.state.new_release = release
    await ctx.journal("new_release", release.id)
    await ctx.progress(f"activating release {release.id}")
    try:
        await releases.activate(release.id)
    except DatabaseUnavailable as exc:
        raise StepFailed(str(exc), stop_the_line="database connection issues") from None
    except FunctionsUnavailable as exc:
        raise StepFailed(str(exc), stop_the_line="Edge Function deployment failed") from None
    await ctx.output(f"activated release {release.id} (previous: {_describe(previous)})")
    await _wait_for_host(ctx, release.id)
    await ctx.outcome(f"release {release.id} active")


async def undo(ctx: DeployContext) -> None:
    if ctx.state.new_release is None:
        await ctx.output("no release was activated: nothing to undo")
        await ctx.outcome("nothing to undo")
        return
    previous = ctx.state.previous_release
    try:
        await ctx.environment.functions.activate(previous.id if previous else None)
    except FunctionsUnavailable as exc:
        raise StepFailed(f"could not put the previous functions back: {exc}") from None
    await ctx.output(f"reactivated {_describe(previous)}" if previous
                     else "deactivated the functions (none were active before)")
    try:
        await _wait_for_host(ctx, previous.id if previous else None)
    except StepFailed as exc:  # the pointer is back; a lagging host follows it on its own
        await ctx.output(f"warning: {exc.reason}")
    await ctx.outcome(f"release {previous.id} active again" if previous
                      else "no release active, as before")


FUNCTIONS = Step(name="functions", title="Deploy edge functions", run=run, undo=undo,
                 runbook="Deploy Edge Functions")
