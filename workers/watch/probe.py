"""The probe: one real call of a function per sample, so a function host with no traffic
of its own (one started just for the watch) still has something to measure.

The probe is the first HTTP check of the smoke file at the deployed commit — the runbook's
Test 1, a call the team already declared must work, with a cleanup the file already knows.
Rows it creates are removed right after with the file's cleanup statements; only statements
whose every `:name` the probe itself captured or generated run (a statement without
parameters is not tied to the probe's rows, and is left to the smoke step's undo)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from workers.drivers.interfaces import Database
from workers.runbook.smoke_spec import (
    MISSING,
    HttpCheck,
    SmokeSpecError,
    http_request,
    load_smoke_spec,
    lookup,
    sql_parameters,
)
from workers.steps.smoke import render_cleanup


@dataclass(frozen=True)
class Probe:
    check: HttpCheck
    cleanup: tuple[str, ...]
    relpath: str


@dataclass(frozen=True)
class ProbeResult:
    name: str
    status: int | None  # None: no answer (the reason is in `error`)
    latency_ms: float
    error: str | None = None
    expected: bool = True  # the status is one the smoke file expects
    variables: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """No answer, or a 5xx: an error in the runbook's sense."""
        return self.status is None or self.status >= 500


def load_probe(root: Path, relpath: str) -> tuple[Probe | None, str]:
    """The probe of the smoke file at `root/relpath`, or None and why there is none."""
    try:
        spec = load_smoke_spec(root, relpath)
    except FileNotFoundError:
        return None, f"no probe: {relpath} does not exist"
    except SmokeSpecError as exc:
        return None, f"no probe: {relpath} is invalid ({exc.describe(exc.problems[0])})"
    check = next((c for c in spec.checks if isinstance(c, HttpCheck)), None)
    if check is None:
        return None, f"no probe: {relpath} has no HTTP check"
    return Probe(check, spec.cleanup, relpath), f"probe: {check.name}"


async def send(client: httpx.AsyncClient, base_url: str, anon_key: str,
               probe: Probe) -> ProbeResult:
    """Make the probe's call once and measure it."""
    check = probe.check
    call = check.http
    variables: dict[str, Any] = {name: uuid.uuid4() for name in check.generate}
    req = http_request(call, variables, base_url, anon_key)
    started = time.perf_counter()
    try:
        response = await client.request(call.method, req.url, headers=req.headers,
                                        content=req.content, timeout=call.timeout_s)
    except httpx.TimeoutException:
        return ProbeResult(check.name, None, (time.perf_counter() - started) * 1000,
                           f"no answer within {call.timeout_s:g} s")
    except httpx.HTTPError as exc:
        return ProbeResult(check.name, None, (time.perf_counter() - started) * 1000,
                           f"{type(exc).__name__}")
    latency = (time.perf_counter() - started) * 1000
    variables.update(_captures(check, response))
    return ProbeResult(check.name, response.status_code, latency,
                       expected=response.status_code in check.expect.status,
                       variables=variables)


def _captures(check: HttpCheck, response: httpx.Response) -> dict[str, Any]:
    """What the check captures, as far as the response has it (missing ones are left out:
    the cleanup statements that need them are not run)."""
    data: Any = MISSING
    try:
        data = json.loads(response.text, parse_float=Decimal)
    except ValueError:
        pass
    out: dict[str, Any] = {}
    for name, source in check.capture.items():
        if source == "status":
            out[name] = response.status_code
        elif source.startswith("header."):
            value = response.headers.get(source[len("header."):])
            if value is not None:
                out[name] = value
        elif data is not MISSING:
            value = lookup(data, source[len("json."):])
            if value is not MISSING:
                out[name] = value
    return out


def _own(probe: Probe) -> tuple[str, ...]:
    """The cleanup statements about what the probe's check creates: every `:name` in them
    is one the check captures or generates."""
    names = set(probe.check.capture) | set(probe.check.generate)
    return tuple(s for s in probe.cleanup
                 if (params := sql_parameters(s)) and set(params) <= names)


def cleanup_statements(probe: Probe, variables: dict[str, Any]) -> list[str]:
    """The cleanup statements tied to what this probe created, values quoted in."""
    return render_cleanup(_own(probe), variables)


async def clean_up(database: Database, probe: Probe, result: ProbeResult) -> str | None:
    """Remove what the probe created; a note when something may be left behind."""
    own = _own(probe)
    statements = render_cleanup(own, result.variables)
    note = None
    if len(statements) < len(own) and result.status is not None and result.status < 300:
        missing = sorted({n for s in own for n in sql_parameters(s)} - set(result.variables))
        note = f"probe data may be left: {', '.join(missing)} not captured"
    for statement in statements:
        try:
            await database.execute(statement)
        except Exception as exc:  # noted on the sample; a person can clean up by hand
            first = (str(exc).strip().splitlines() or [""])[0]
            return f"probe cleanup failed: {type(exc).__name__}: {first}"
    return note
