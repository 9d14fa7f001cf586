"""Pin a commit and lay its tree out read-only: the engine deploys exactly that commit,
never the working tree (runbook: clean tree)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from workers.runbook.context import SourceTree
from workers.safe_extract import UnsafeArchive, extract_tar


class SourceError(RuntimeError):
    pass


def _git(repo: Path, *args: str) -> str:
    res = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        raise SourceError(res.stderr.strip() or f"git {' '.join(args)} failed")
    return res.stdout.strip()


def resolve_commit(repo: Path, ref: str) -> str:
    try:
        return _git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}")
    except SourceError:
        raise SourceError(f"{ref!r} is not a commit of the repository at {repo}; "
                          "give a branch, tag or commit SHA with --ref") from None


def checkout(repo: Path, ref: str, cache_dir: Path) -> SourceTree:
    """The tree of `ref` in `repo` under `cache_dir/<sha>` (reused when already there)."""
    sha = resolve_commit(repo, ref)
    cache_dir = cache_dir.resolve()  # steps run tools with the tree as their working dir
    dest = cache_dir / sha
    if not (dest / ".deploybot-complete").exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=cache_dir))
        try:
            data = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", sha],
                                  capture_output=True, check=True).stdout
            try:
                extract_tar(data, tmp)
            except UnsafeArchive as exc:
                raise SourceError(f"cannot deploy {sha[:12]}: {exc}") from None
            (tmp / ".deploybot-complete").write_text(sha)
            try:
                os.rename(tmp, dest)
            except OSError:  # another process finished the same checkout first
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return SourceTree(root=dest, commit=sha, ref=ref)


def repo_identity(repo: Path) -> str:
    """owner/name from the origin remote, else the directory name: how the ledger names it."""
    try:
        url = _git(repo, "config", "--get", "remote.origin.url")
    except SourceError:
        url = ""
    if url:
        tail = url.rstrip("/").removesuffix(".git").replace(":", "/").split("/")
        if len(tail) >= 2 and tail[-2] and tail[-1]:
            return f"{tail[-2]}/{tail[-1]}"
    return f"local/{repo.resolve().name}"
