"""squawk over pending migrations: findings at file and line, warnings by default,
blocking where an environment says `squawk: block`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from service.config.model import default_config
from tests.backups.conftest import as_database, make_ctx
from workers.drivers.backups import LocalBackupStore
from workers.repository.migration_files import discover
from workers.runbook import squawk
from workers.runbook.events import EventKind
from workers.runbook.step import StepFailed

RISKY = """\
-- a table everyone writes to gets slower for everyone
alter table public.orders alter column total type numeric(12, 2);

create index orders_customer on public.orders (customer_id);
alter table public.orders add constraint total_positive check (total > 0);
"""
SAFE = "create table public.notes (id bigint primary key, body text);\n"


def project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_binary_comes_from_the_installed_package() -> None:
    exe = squawk.binary()
    assert exe.name == "squawk" and exe.is_file()


def test_a_missing_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(squawk, "PACKAGE", "squawk-cli-not-installed")
    with pytest.raises(squawk.SquawkMissing) as missing:
        squawk.binary()
    assert "the squawk-cli-not-installed package is not installed" in str(missing.value)
    assert "pip install squawk-cli" in str(missing.value)
    assert "squawk: off" in str(missing.value)


async def test_rewrites_blocking_locks_and_plain_index_builds_are_found_at_their_lines(
        tmp_path: Path) -> None:
    root = project(tmp_path, {"supabase/migrations/20260301000000_risky.sql": RISKY,
                              "supabase/migrations/20260301000001_safe.sql": SAFE,
                              # the pull request's own squawk settings are not read
                              ".squawk.toml": 'excluded_rules = ["changing-column-type", '
                                              '"require-concurrent-index-creation", '
                                              '"constraint-missing-not-valid"]\n',
                              "supabase/.squawk.toml": 'excluded_rules = '
                                                       '["changing-column-type"]\n'})
    found = await squawk.lint(list(discover(root, "supabase/migrations")), 150000)
    assert [(f.relpath, f.line, f.rule) for f in found] == [
        ("supabase/migrations/20260301000000_risky.sql", 2, "changing-column-type"),
        ("supabase/migrations/20260301000000_risky.sql", 4,
         "require-concurrent-index-creation"),
        ("supabase/migrations/20260301000000_risky.sql", 5, "constraint-missing-not-valid"),
    ]
    assert "rewritten" in found[0].message


async def test_findings_warn_by_default_and_block_where_configured(
        fresh_db: str, tmp_path: Path) -> None:
    root = project(tmp_path / "src", {"migrations/20260301000000_risky.sql": RISKY})
    pending = list(discover(root))
    ctx = make_ctx(as_database(fresh_db), LocalBackupStore(tmp_path / "b"), source=root)
    ctx.current_step = "preflight"
    await squawk.lint_pending(ctx, pending)
    [event] = [e for e in ctx.reporter.events if e.kind is EventKind.OUTPUT]  # type: ignore[attr-defined]
    assert "squawk: 3 finding(s) (warnings)" in event.message
    notes = event.data["annotations"]
    assert [(a.path, a.line, a.level) for a in notes] == [
        ("migrations/20260301000000_risky.sql", 2, "warning"),
        ("migrations/20260301000000_risky.sql", 4, "warning"),
        ("migrations/20260301000000_risky.sql", 5, "warning")]
    assert notes[1].title == "squawk: require-concurrent-index-creation"

    config = default_config()
    blocking = replace(config, environments={
        **config.environments,
        "staging": replace(config.environments["staging"], squawk="block")})
    ctx = make_ctx(as_database(fresh_db), LocalBackupStore(tmp_path / "b"), source=root,
                   config=blocking)
    with pytest.raises(StepFailed) as failed:
        await squawk.lint_pending(ctx, pending)
    assert failed.value.stop_the_line == "migration lint"
    assert "3 squawk finding(s) and `squawk: block` on staging" in failed.value.reason
    assert {a.level for a in failed.value.annotations} == {"failure"}

    off = replace(config, environments={
        **config.environments, "staging": replace(config.environments["staging"], squawk="off")})
    ctx = make_ctx(as_database(fresh_db), LocalBackupStore(tmp_path / "b"), source=root,
                   config=off)
    await squawk.lint_pending(ctx, pending)
    assert ctx.reporter.events == []  # type: ignore[attr-defined]
