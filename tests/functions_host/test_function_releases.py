"""Function releases in the environment's own database: publish, activate, digest."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from pathlib import Path

import psycopg
import pytest

from tests.functions_host.fnhost_helpers import write_config_toml, write_function, write_version
from workers.drivers.functions import (
    CHANNEL,
    MANIFEST,
    FunctionBundleError,
    PostgresFunctionReleases,
    active_if_unchanged,
    build_bundle,
    digest_of,
    digest_of_tree,
    read_manifest,
)
from workers.functions_host.releases import UnsafeBundle, extract_release
from workers.safe_extract import UnsafeArchive


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
    write_function(functions_dir, "calculate-quote", "Deno.serve(() => new Response());\n",
                   **{"pricing.ts": "export const X = 1;\n", "deno.json": "{}\n"})
    (functions_dir / "README.md").write_text("not a function\n")
    (functions_dir / "_shared").mkdir()  # shared code, not a function
    (functions_dir / "_shared" / "util.ts").write_text("export {};\n")
    (functions_dir / "notes").mkdir()  # no entrypoint: not a function
    (functions_dir / "notes" / "todo.md").write_text("")
    write_config_toml(functions_dir, """
        [functions.hello]
        verify_jwt = false
        """)

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
    assert names == sorted([MANIFEST, "README.md", "_shared/util.ts",
                            "calculate-quote/deno.json", "calculate-quote/index.ts",
                            "calculate-quote/pricing.ts", "hello/index.ts", "notes/todo.md"])
    # The manifest carries config.toml's settings: a host needs nothing but the release.
    release_dir = extract_release(stored, functions_dir.parent / "cache")
    manifest = {f.slug: f for f in read_manifest(release_dir).functions}
    assert manifest["hello"].verify_jwt is False
    assert manifest["calculate-quote"].verify_jwt is True
    assert manifest["calculate-quote"].deno_config == "calculate-quote/deno.json"
    assert manifest["calculate-quote"].entrypoint == "calculate-quote/index.ts"


def test_digest_depends_on_content_and_settings_only(functions_dir: Path) -> None:
    write_version(functions_dir, "hello", "v1")
    first = digest_of(functions_dir)
    bundle = build_bundle(functions_dir)
    os.utime(functions_dir / "hello" / "index.ts", (1, 1))
    assert digest_of(functions_dir) == first
    assert build_bundle(functions_dir) == bundle  # reproducible bytes too

    write_version(functions_dir, "hello", "v2")
    assert digest_of(functions_dir) != first
    write_version(functions_dir, "hello", "v1")
    (functions_dir / "hello" / "extra.ts").write_text("")
    assert digest_of(functions_dir) != first
    (functions_dir / "hello" / "extra.ts").unlink()
    assert digest_of(functions_dir) == first
    write_config_toml(functions_dir, "[functions.hello]\nverify_jwt = false\n")
    assert digest_of(functions_dir) != first  # a changed setting is a new release


def test_a_folder_with_files_but_no_function_cannot_be_published(functions_dir: Path) -> None:
    (functions_dir / "hello").mkdir()
    (functions_dir / "hello" / "__init__.py").write_text("app = None\n")
    with pytest.raises(FunctionBundleError, match="holds files but no function"):
        build_bundle(functions_dir)


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize("member", [
    _member("../escape.ts"), _member("/abs.ts"), _member("a/../../b.ts"),
    _member("link.ts", tarfile.SYMTYPE, "/etc/passwd"),
    _member("hard.ts", tarfile.LNKTYPE, "/etc/passwd"),
    _member("dev", tarfile.CHRTYPE), _member("dir", tarfile.DIRTYPE),
], ids=lambda m: m.name)
def test_the_host_extracts_only_plain_files_inside_the_release(
        member: tarfile.TarInfo, tmp_path: Path) -> None:
    from workers.drivers.functions import ReleaseBundle

    data = _tar((member, b"x"))
    bundle = ReleaseBundle(id=1, commit="a" * 40, slugs=(), digest="d", bundle=data)
    # a directory entry is harmless but no release's: the digest check refuses it
    with pytest.raises(UnsafeArchive if not member.isdir() else UnsafeBundle):
        extract_release(bundle, tmp_path / "cache" / "db")
    assert not (tmp_path / "escape.ts").exists()
    assert not (tmp_path / "cache" / "db" / "1").exists()


def test_the_host_checks_the_bundle_against_its_digest(functions_dir: Path,
                                                       tmp_path: Path) -> None:
    from workers.drivers.functions import ReleaseBundle

    write_version(functions_dir, "hello", "v1")
    data = build_bundle(functions_dir)
    good = ReleaseBundle(1, "a" * 40, ("hello",), digest_of(functions_dir), data)
    assert digest_of_tree(extract_release(good, tmp_path / "c")) != ""
    tampered = ReleaseBundle(2, "a" * 40, ("hello",), "0" * 64, data)
    with pytest.raises(UnsafeBundle, match="does not match its digest"):
        extract_release(tampered, tmp_path / "c")


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
