"""Pin a commit and lay its tree out read-only: the engine deploys exactly that commit,
never the working tree (runbook: clean tree)."""

from __future__ import annotations

import os
import re
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


def repository_root(start: Path) -> Path | None:
    """The top of the git work tree holding `start` (as `git` finds it from a subfolder),
    or None outside any repository."""
    res = subprocess.run(["git", "-C", str(start), "rev-parse", "--show-toplevel"],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return None
    return Path(res.stdout.strip()).resolve()


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
        data = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", sha],
                              capture_output=True, check=True).stdout
        unpack_commit(data, dest, sha)
    return SourceTree(root=dest, commit=sha, ref=ref)


def unpack_commit(data: bytes, dest: Path, sha: str, *, strip_top: bool = False) -> None:
    """Unpack a commit's tar archive as `dest`, whole or not at all: into a temporary
    folder beside it, marked complete, then renamed (a reader never sees half a tree)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=dest.parent))
    try:
        try:
            extract_tar(data, tmp, strip_top=strip_top)
        except UnsafeArchive as exc:
            raise SourceError(f"cannot deploy {sha[:12]}: {exc}") from None
        (tmp / ".deploybot-complete").write_text(sha)
        try:
            os.rename(tmp, dest)
        except OSError:  # another process finished the same commit first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def repo_identity(repo: Path) -> str:
    """owner/name when the origin remote is a hosted repository (GitHub or GitHub
    Enterprise: `https://host/owner/name`, `git@host:owner/name`, `ssh://…`), else
    `local/<folder>`: a clone of a folder on disk is no GitHub repository, and the dashboard
    must not link it to pages that do not exist."""
    try:
        url = _git(repo, "config", "--get", "remote.origin.url")
    except SourceError:
        url = ""
    owner_name = hosted_owner_name(url)
    return owner_name or f"local/{repo.resolve().name}"


_HOSTED = re.compile(r"^(?:(?:https?|ssh|git)://(?:[^@/]+@)?[^/]+(?::\d+)?/|[^@/:]+@[^/:]+:)"
                     r"(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+?)(?:\.git)?/?$")


def hosted_owner_name(url: str) -> str | None:
    """`owner/name` of a remote URL on a hosting service; None for paths and file URLs."""
    match = _HOSTED.match(url.strip())
    return f"{match['owner']}/{match['name']}" if match else None
