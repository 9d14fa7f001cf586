"""Function releases in the environment's own database: publish, activate, digest."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from pathlib import Path

import psycopg
import pytest

from tests.functions_host.fnhost_helpers import write_function, write_version
from workers.drivers.functions import (
    CHANNEL,
    FunctionBundleError,
    PostgresFunctionReleases,
    active_if_unchanged,
    build_bundle,
    digest_of,
    function_slugs,
)


def _schema_exists(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regnamespace('deploybot') IS NOT NULL").fetchone()
    return bool(row and row[0])


async def test_reading_an_untouched_database_creates_nothing(fresh_db: str) -> None:
    releases = PostgresFunctionReleases(fresh_db)
    assert await releases.active() is None
    assert await releases.get(1) is None
    assert not _schema_exists(fresh_db)


async def test_publish_stores_the_functions_at_the_commit(
        releases: PostgresFunctionReleases, functions_dir: Path, fresh_db: str) -> None:
    write_version(functions_dir, "hello", "v1")
    write_function(functions_dir, "calculate-quote", "app = None\n", pricing="X = 1\n")
    (functions_dir / "README.md").write_text("not a function\n")
    (functions_dir / "shared").mkdir()  # no __init__.py: not a function
    (functions_dir / "shared" / "util.py").write_text("")
    cache = functions_dir / "hello" / "__pycache__"
    cache.mkdir()
    (cache / "x.cpython-311.pyc").write_bytes(b"\0")

    release = await releases.publish(functions_dir, "c" * 40)

    assert release.slugs == ("calculate-quote", "hello")
    assert release.commit == "c" * 40
    assert release.digest == digest_of(functions_dir)
    assert not release.active
    assert await releases.get(release.id) == release
    assert await releases.active() is None  # published, not activated

    stored = await releases.bundle(release.id)
    assert stored is not None
    with tarfile.open(fileobj=io.BytesIO(stored.bundle), mode="r:gz") as tar:
        names = sorted(tar.getnames())
    assert names == ["README.md", "calculate-quote/__init__.py", "calculate-quote/pricing.py",
                     "hello/__init__.py", "shared/util.py"]


def test_digest_depends_on_content_only(functions_dir: Path) -> None:
    write_version(functions_dir, "hello", "v1")
    first = digest_of(functions_dir)
    bundle = build_bundle(functions_dir)
    os.utime(functions_dir / "hello" / "__init__.py", (1, 1))
    (functions_dir / "hello" / "__pycache__").mkdir()
    (functions_dir / "hello" / "__pycache__" / "m.pyc").write_bytes(b"junk")
    assert digest_of(functions_dir) == first
    assert build_bundle(functions_dir) == bundle  # reproducible bytes too

    write_version(functions_dir, "hello", "v2")
    assert digest_of(functions_dir) != first
    write_version(functions_dir, "hello", "v1")
    (functions_dir / "hello" / "extra.py").write_text("")
    assert digest_of(functions_dir) != first


def test_slugs_are_directories_with_an_init(functions_dir: Path) -> None:
    write_version(functions_dir, "b-fn", "v1")
    write_version(functions_dir, "a_fn", "v1")
    (functions_dir / "no-init").mkdir()
    assert function_slugs(functions_dir) == ["a_fn", "b-fn"]
    assert function_slugs(functions_dir / "missing") == []


def test_a_symlink_out_of_the_functions_dir_is_refused(functions_dir: Path,
                                                       tmp_path: Path) -> None:
    write_version(functions_dir, "hello", "v1")
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    (functions_dir / "hello" / "leak.txt").symlink_to(secret)
    with pytest.raises(FunctionBundleError, match="symbolic link to outside"):
        build_bundle(functions_dir)


async def test_activate_switches_the_pointer_and_notifies(
        releases: PostgresFunctionReleases, functions_dir: Path, fresh_db: str) -> None:
    write_version(functions_dir, "hello", "v1")
    one = await releases.publish(functions_dir, "1" * 40)
    write_version(functions_dir, "hello", "v2")
    two = await releases.publish(functions_dir, "2" * 40)

    listener = await psycopg.AsyncConnection.connect(fresh_db, autocommit=True)
    async with listener:
        await listener.execute(f"LISTEN {CHANNEL}")
        await releases.activate(one.id)
        await releases.activate(two.id)
        await releases.activate(None)
        payloads = []
        async for note in listener.notifies(timeout=5, stop_after=3):
            payloads.append(note.payload)
    assert payloads == [str(one.id), str(two.id), "none"]
    assert await releases.active() is None

    await releases.activate(one.id)
    active = await releases.active()
    assert active is not None and active.id == one.id and active.active
    assert active.digest == one.digest
    got_two = await releases.get(two.id)
    assert got_two is not None and not got_two.active

    with pytest.raises(LookupError, match="no function release 999"):
        await releases.activate(999)
    still = await releases.active()
    assert still is not None and still.id == one.id
    assert [r.id for r in await releases.history()] == [two.id, one.id]


async def test_active_if_unchanged_compares_content(
        releases: PostgresFunctionReleases, functions_dir: Path) -> None:
    write_version(functions_dir, "hello", "v1")
    assert await active_if_unchanged(releases, functions_dir) is None
    release = await releases.publish(functions_dir, "a" * 40)
    await releases.activate(release.id)
    unchanged = await active_if_unchanged(releases, functions_dir)
    assert unchanged is not None and unchanged.id == release.id
    write_version(functions_dir, "hello", "v2")
    assert await active_if_unchanged(releases, functions_dir) is None


async def test_first_use_from_two_processes_at_once(fresh_db: str, functions_dir: Path) -> None:
    write_version(functions_dir, "hello", "v1")
    a, b = PostgresFunctionReleases(fresh_db), PostgresFunctionReleases(fresh_db)
    one, two = await asyncio.gather(a.publish(functions_dir, "a" * 40),
                                    b.publish(functions_dir, "b" * 40))
    assert {one.id, two.id} == {1, 2}
    assert one.digest == two.digest  # re-publishing identical functions is recognisable
