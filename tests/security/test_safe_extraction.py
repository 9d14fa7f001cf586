"""Issue 11, item 10: every archive the worker unpacks (the commit's tree from git or GitHub,
a function release) is checked member by member before anything is written, because the
tarfile "data" filter of the Python the worker runs (3.11.7) can be bypassed
(CVE-2025-4517: the published symlink chain below writes outside the destination)."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from service.github import GitHubApp
from tests.github_server.server import GitHubTestServer
from workers.drivers.functions import ReleaseBundle
from workers.functions_host.releases import extract_release
from workers.github_source import fetch_source
from workers.safe_extract import UnsafeArchive, extract_tar
from workers.source import SourceError, checkout


def _tar(add: Callable[[tarfile.TarFile], None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        add(tar)
    return buffer.getvalue()


def _file(tar: tarfile.TarFile, name: str, data: bytes = b"x\n") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _link(tar: tarfile.TarFile, name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tar.addfile(info)


def _cve_2025_4517(top: str = "", outside: str = "../outside") -> bytes:
    """The published proof of concept: symlinks through directories with 247-character
    names take the real path past PATH_MAX, where the filter's realpath check gives up; the
    last link then points at `outside` (`../outside`, beside the destination), and a file is
    written through it."""
    comp = "d" * 247
    steps = "abcdefghijklmnop"

    def add(tar: tarfile.TarFile) -> None:
        path = top
        for step in steps:
            directory = tarfile.TarInfo(os.path.join(path, comp))
            directory.type = tarfile.DIRTYPE
            tar.addfile(directory)
            _link(tar, os.path.join(path, step), comp)
            path = os.path.join(path, comp)
        linkpath = os.path.join(*steps, "l" * 254)
        _link(tar, os.path.join(top, linkpath), "../" * len(steps))
        _link(tar, os.path.join(top, "escape"), linkpath + "/" + outside)
        _file(tar, os.path.join(top, "escape", "pwned"), b"pwned\n")

    return _tar(add)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    return dest, outside


@pytest.mark.parametrize("strip_top", [False, True])
def test_the_cve_2025_4517_chain_writes_nothing(dirs: tuple[Path, Path],
                                                strip_top: bool) -> None:
    dest, outside = dirs
    with pytest.raises(UnsafeArchive) as caught:
        extract_tar(_cve_2025_4517("top" if strip_top else ""), dest, strip_top=strip_top)
    assert "is a symbolic link" in str(caught.value)
    assert list(outside.iterdir()) == []
    assert list(dest.iterdir()) == []  # refused before anything was written


@pytest.mark.parametrize(("add", "says"), [
    (lambda t: _link(t, "functions/x", "/etc/passwd"), "is a symbolic link"),
    (lambda t: _link(t, "functions/x", "index.ts"), "is a symbolic link"),  # even inside
    (lambda t: (_file(t, "a"), _link(t, "b", "a", tarfile.LNKTYPE)), "is a hard link"),
    (lambda t: _file(t, "/tmp/absolute"), "has an absolute path"),
    (lambda t: _file(t, "functions/../../escape"), "climbs out with '..'"),
    (lambda t: _link(t, "dev", "", tarfile.CHRTYPE), "is a device"),
    (lambda t: _link(t, "fifo", "", tarfile.FIFOTYPE), "is a FIFO"),
])
def test_members_other_than_plain_files_and_directories_are_refused(
        dirs: tuple[Path, Path], add: Callable[[tarfile.TarFile], None], says: str) -> None:
    dest, _ = dirs
    with pytest.raises(UnsafeArchive) as caught:
        extract_tar(_tar(add), dest)
    assert says in str(caught.value)
    assert list(dest.iterdir()) == []


def test_plain_files_and_directories_unpack(dirs: tuple[Path, Path]) -> None:
    dest, _ = dirs

    def add(tar: tarfile.TarFile) -> None:
        _file(tar, "top/functions/hello/index.ts", b"Deno.serve(() => new Response());\n")
        _file(tar, "top/./migrations//1_x.sql", b"select 1;\n")

    extract_tar(_tar(add), dest, strip_top=True)
    assert (dest / "functions/hello/index.ts").read_bytes().startswith(b"Deno.serve")
    assert (dest / "migrations/1_x.sql").is_file()


def test_a_function_release_is_checked_before_the_host_unpacks_it(tmp_path: Path) -> None:
    bundle = ReleaseBundle(id=7, commit="0" * 40, slugs=("x",), digest="unused",
                           bundle=gzip.compress(_cve_2025_4517()))
    cache = tmp_path / "cache"
    (cache / "outside").mkdir(parents=True)  # beside the release's directory in the cache
    with pytest.raises(UnsafeArchive):
        extract_release(bundle, cache)
    assert list((cache / "outside").iterdir()) == []


def test_a_commit_with_a_symlink_is_refused_naming_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "migrations").mkdir()
    (repo / "migrations" / "secret.sql").symlink_to("/etc/passwd")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=d@example.com", "-c",
                    "user.name=D", "commit", "-qm", "link"], check=True)
    with pytest.raises(SourceError) as caught:
        checkout(repo, "HEAD", tmp_path / "checkouts")
    message = str(caught.value)
    assert "migrations/secret.sql" in message and "is a symbolic link" in message
    assert not list((tmp_path / "checkouts").glob("[0-9a-f]*"))


async def test_a_hostile_github_tarball_writes_nothing_outside_its_folder(
        tmp_path: Path, github_server: GitHubTestServer, github_app: GitHubApp) -> None:
    """The commit's tree as GitHub serves it: a tarball with a top directory, stripped. The
    CVE chain under that top directory, its last link climbing one more level so that it
    lands beside the folder the tarball is unpacked into (the cache of the repository)."""
    sha = "c" * 40
    github_server.state.add_repo("octo/backend", refs={"main": sha})
    archive = _cve_2025_4517(f"octo-backend-{sha[:7]}", outside="../../outside")
    github_server.state.set_tarball("octo/backend", sha, gzip.compress(archive))
    cache = tmp_path / "cache"
    outside = cache / "octo__backend" / "outside"
    outside.mkdir(parents=True)
    with pytest.raises(SourceError) as caught:  # the archive refused, as for a git archive
        await fetch_source(github_app.installation(1), "octo/backend", sha, cache)
    message = str(caught.value)
    assert message.startswith(f"cannot deploy {sha[:12]}: ")
    assert f"octo-backend-{sha[:7]}/a" in message and "is a symbolic link" in message
    assert list(outside.iterdir()) == []
    # the temporary folder is gone and the commit is not taken as unpacked
    assert sorted(p.name for p in (cache / "octo__backend").iterdir()) == ["outside"]
    assert [r.status for r in github_server.calls("GET", "/repos/*/tarball/*")] == [302]
