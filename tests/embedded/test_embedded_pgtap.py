"""The embedded default's PostgreSQL 18 has no pgTAP extension (the wheel ships no contrib):
the verify step loads the worker's packaged pgTAP, and this project's RLS suite passes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg

from service.embedded.postgres import EmbeddedPostgres
from tests.backend.backend_sql import migrations, run_suite
from workers.drivers.database import PostgresDatabase
from workers.runbook import pgtap


def test_the_rls_suite_passes_on_the_embedded_server_with_packaged_pgtap(
        tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")
    server.ensure_running()
    try:
        # As the bot prepares it: its owner role (not a superuser), the shim by the admin.
        url = server.prepare_environment("staging")
        with psycopg.connect(url, autocommit=True) as conn:
            for m in migrations():
                with conn.transaction():
                    conn.execute(m.path.read_text())  # type: ignore[arg-type]

        async def located() -> pgtap.PgTapSource:
            async with PostgresDatabase(url, connect_retries=1) as db:
                return await pgtap.locate(db)

        source = asyncio.run(located())
        assert source.kind == "package", source.describe()
        result = asyncio.run(run_suite(url))
        assert result.passed, result.problems()
        assert len(result.report.tests) == result.report.plan
    finally:
        server.stop()
