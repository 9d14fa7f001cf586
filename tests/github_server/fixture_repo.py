"""A small git repository for a test, built in a tmp dir from given files and/or copies of
paths of this project (migrations/, functions/, tests/backend/, .github/deploybot.yml ...).

    repo = make_fixture_repo(tmp_path, files={"README.md": "hi"},
                             copy_from=["migrations", ".github/deploybot.yml"])
    path, sha = repo                      # a NamedTuple (path, sha)
    sha2 = repo.commit({"migrations/20260201000000_x.sql": "select 1;"}, message="add x")
    sha3 = repo.commit({"a.txt": "on a branch"}, branch="feature")
    sha4 = add_commit(path, {"b.txt": "same, given only the path"})
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

PROJECT = Path(__file__).resolve().parents[2]
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")
_ENV = {
    "GIT_AUTHOR_NAME": "Test Author", "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author", "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


def _git(repo: Path, *args: str) -> str:
    res = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                         env={**os.environ, **_ENV}, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout.strip()


def _write(root: Path, files: Mapping[str, str | bytes]) -> None:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


def add_commit(path: Path, files: Mapping[str, str | bytes] | None = None, *,
               message: str = "change", branch: str | None = None,
               delete: Iterable[str] = ()) -> str:
    """Write `files`, remove `delete`, commit (on `branch`, created from the current branch
    if new, which then stays checked out) and return the new SHA."""
    if branch is not None:
        exists = _git(path, "branch", "--list", branch)
        _git(path, "checkout", "-q", *(() if exists else ("-b",)), branch)
    _write(path, files or {})
    for rel in delete:
        _git(path, "rm", "-r", "-q", "--", rel)
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "--allow-empty", "-m", message)
    return _git(path, "rev-parse", "HEAD")


class FixtureRepo(NamedTuple):
    path: Path
    sha: str  # the commit made by make_fixture_repo

    def head(self, ref: str = "HEAD") -> str:
        return _git(self.path, "rev-parse", f"{ref}^{{commit}}")

    def commit(self, files: Mapping[str, str | bytes] | None = None, *,
               message: str = "change", branch: str | None = None,
               delete: Iterable[str] = ()) -> str:
        return add_commit(self.path, files, message=message, branch=branch, delete=delete)

    def checkout(self, branch: str) -> None:
        _git(self.path, "checkout", "-q", branch)


def make_fixture_repo(tmp_path: Path, files: Mapping[str, str | bytes] | None = None,
                      copy_from: Iterable[str] = (), *, name: str = "fixture-repo",
                      branch: str = "main") -> FixtureRepo:
    """A new repository under `tmp_path/name` with one commit on `branch`."""
    root = tmp_path / name
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", branch)
    for rel in copy_from:
        source = PROJECT / rel
        if not source.exists():
            raise FileNotFoundError(f"copy_from: {rel} is not in {PROJECT}")
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=_IGNORE, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    _write(root, files or {})
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "--allow-empty", "-m", "fixture")
    return FixtureRepo(root, _git(root, "rev-parse", "HEAD"))
