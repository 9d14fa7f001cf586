"""The `smoke` step: the repository's smoke file against the real calculate-quote function
served by a real function host, on a database with the project's migrations."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from tests.functions_host.conftest import HostFactory
from tests.functions_host.fnhost_helpers import (
    ANON_KEY,
    RAISING_FN,
    make_ctx,
    make_env,
    write_function,
)
from workers.drivers.database import PostgresDatabase
from workers.drivers.function_host_process import FunctionHostProcess
from workers.drivers.functions import PostgresFunctionReleases
from workers.runbook.context import Environment
from workers.runbook.step import StepFailed, StepSkipped
from workers.steps.smoke import SMOKE, STOP_5XX, STOP_DATA, STOP_RLS
from workers.steps.smoke import undo as smoke_undo

REPO = Path(__file__).resolve().parents[2]


def apply_migrations(url: str) -> None:
    files = sorted((REPO / "migrations").glob("*.sql"))
    if not files:
        pytest.fail("migrations/*.sql are missing: the smoke tests need the quotes table")
    with psycopg.connect(url, autocommit=True) as conn:
        for path in files:
            with conn.transaction():
                conn.execute(path.read_text())


def quote_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from public.quotes").fetchone()
    return int(row[0]) if row else -1


@pytest.fixture
async def backend(shim_db: str) -> AsyncIterator[PostgresDatabase]:
    apply_migrations(shim_db)
    async with PostgresDatabase(shim_db) as db:
        yield db


async def _serve(url: str, functions_dir: Path, start_host: HostFactory) -> FunctionHostProcess:
    releases = PostgresFunctionReleases(url)
    release = await releases.publish(functions_dir, "a" * 40)
    await releases.activate(release.id)
    return await start_host(url)


def _env(url: str, db: PostgresDatabase, host: FunctionHostProcess | None) -> Environment:
    return make_env(db, PostgresFunctionReleases(url), host)


async def test_the_runbook_smoke_tests_pass_and_undo_removes_their_data(
        shim_db: str, backend: PostgresDatabase, start_host: HostFactory) -> None:
    host = await _serve(shim_db, REPO / "functions", start_host)
    ctx = make_ctx(_env(shim_db, backend, host), REPO)

    await SMOKE.run(ctx)

    out = ctx.reporter.output()  # type: ignore[attr-defined]
    lines = out.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "✓ quote calculation", "✓ quote stored", "✓ customers see only their own quotes",
        "✓ anonymous visitors cannot read quotes"]
    assert ANON_KEY not in out
    cleanup = ctx.state.smoke_cleanup
    assert len(cleanup) == 1 and cleanup[0].startswith("delete from public.quotes where id")
    assert quote_count(shim_db) == 1  # Test 1's quote; the RLS check's rows were rolled back

    await smoke_undo(ctx)
    assert quote_count(shim_db) == 0


async def test_a_function_answering_500_stops_the_line(
        shim_db: str, backend: PostgresDatabase, start_host: HostFactory,
        tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    write_function(functions, "calculate-quote", RAISING_FN)
    host = await _serve(shim_db, functions, start_host)
    ctx = make_ctx(_env(shim_db, backend, host), REPO)

    with pytest.raises(StepFailed) as failure:
        await SMOKE.run(ctx)
    assert failure.value.stop_the_line == STOP_5XX
    assert "status: expected 200, got 500" in failure.value.reason
    assert failure.value.annotations[0].path == "tests/backend/smoke.yml"
    out = ctx.reporter.output()  # type: ignore[attr-defined]
    assert "✗ quote calculation" in out and "- quote stored: not run" in out
    assert "secret internal detail" not in out
    assert ctx.state.smoke_cleanup == []  # nothing was captured, nothing to delete
    await smoke_undo(ctx)


async def test_a_wrong_answer_after_storing_fails_and_undo_removes_the_row(
        shim_db: str, backend: PostgresDatabase, start_host: HostFactory,
        tmp_path: Path) -> None:
    # The function stores the quote, then answers with the wrong price: the check fails,
    # and the row it made is still cleaned up.
    functions = tmp_path / "functions"
    shutil.copytree(REPO / "functions", functions)
    pricing = functions / "calculate-quote" / "pricing.ts"
    text = pricing.read_text()
    assert 'PLATFORM_FEE = Decimal.of("5.00")' in text
    pricing.write_text(text.replace('PLATFORM_FEE = Decimal.of("5.00")',
                                    'PLATFORM_FEE = Decimal.of("6.00")'))
    host = await _serve(shim_db, functions, start_host)
    ctx = make_ctx(_env(shim_db, backend, host), REPO)

    with pytest.raises(StepFailed, match=r"platform_fee: expected 5\.0, got 6\.00"):
        await SMOKE.run(ctx)
    assert quote_count(shim_db) == 1
    assert len(ctx.state.smoke_cleanup) == 1
    await smoke_undo(ctx)
    assert quote_count(shim_db) == 0


async def test_a_broken_rls_policy_is_an_rls_failure(
        shim_db: str, backend: PostgresDatabase, start_host: HostFactory) -> None:
    host = await _serve(shim_db, REPO / "functions", start_host)
    with psycopg.connect(shim_db, autocommit=True) as conn:
        conn.execute("create policy quotes_everyone on public.quotes for select "
                     "to authenticated using (true)")
    ctx = make_ctx(_env(shim_db, backend, host), REPO)

    with pytest.raises(StepFailed) as failure:
        await SMOKE.run(ctx)
    assert failure.value.stop_the_line == STOP_RLS
    assert "customers see only their own quotes" in failure.value.reason
    assert "expected 1 item(s), got 3" in failure.value.reason
    # Test 1's quote was captured before the failure: undo removes it.
    assert len(ctx.state.smoke_cleanup) == 1
    await smoke_undo(ctx)
    assert quote_count(shim_db) == 0


def _source_with_smoke(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "repo"
    (root / "tests" / "backend").mkdir(parents=True)
    (root / "tests" / "backend" / "smoke.yml").write_text(textwrap.dedent(text))
    return root


async def test_unexpected_rows_are_unexpected_data(
        fresh_db: str, tmp_path: Path) -> None:
    root = _source_with_smoke(tmp_path, """
        checks:
          - name: one row
            sql: select 1 as n
            expect: {rows: [{n: 1}]}
            capture: {n: row.n}
          - name: no stray rows
            sql: select g as n from generate_series(1, :n + 2) g
            expect: {row_count: 1}
        """)
    async with PostgresDatabase(fresh_db) as db:
        ctx = make_ctx(_env(fresh_db, db, None), root)
        with pytest.raises(StepFailed) as failure:
            await SMOKE.run(ctx)
    assert failure.value.stop_the_line == STOP_DATA
    assert "expected 1 row(s), got 3" in failure.value.reason
    assert "✓ one row" in ctx.reporter.output()  # type: ignore[attr-defined]


async def test_an_invalid_or_missing_smoke_file(fresh_db: str, tmp_path: Path) -> None:
    root = _source_with_smoke(tmp_path, """
        checks:
          - name: bad
            sql: select 1
            expect: {rows: 3}
        """)
    async with PostgresDatabase(fresh_db) as db:
        env = _env(fresh_db, db, None)
        with pytest.raises(StepFailed) as failure:
            await SMOKE.run(make_ctx(env, root))
        assert "tests/backend/smoke.yml is invalid" in failure.value.reason
        assert failure.value.annotations[0].line == 5
        assert "checks[0].expect.rows" in failure.value.output

        shutil.rmtree(root / "tests")
        with pytest.raises(StepSkipped, match="no smoke checks"):
            await SMOKE.run(make_ctx(env, root))
