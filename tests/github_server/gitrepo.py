"""Read a fixture git repository the way GitHub serves it: refs, tarballs, contents."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path


class GitMissing(LookupError):
    """No such ref or path."""


async def _git(repo: Path, *args: str) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        "git", "-C", str(repo), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise GitMissing(err.decode(errors="replace").strip())
    return out


async def resolve(repo: Path, ref: str) -> str:
    """A branch, tag, "refs/heads/x" or (abbreviated) SHA as a full commit SHA."""
    if ref.startswith("-"):
        raise GitMissing(ref)
    out = await _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return out.decode().strip()


async def tarball(repo: Path, sha: str, owner: str, name: str) -> bytes:
    """`git archive` as gzip with GitHub's top-level directory `<owner>-<repo>-<sha7>/`."""
    return await _git(repo, "archive", "--format=tar.gz", f"--prefix={owner}-{name}-{sha[:7]}/",
                      sha)


async def commit(repo: Path, sha: str) -> dict[str, object]:
    """A commit's metadata as GitHub's `commit` object, with its parents' SHAs."""
    out = (await _git(repo, "show", "-s", "--format=%H%n%T%n%P%n%an%n%ae%n%aI%n%cn%n%ce%n%cI%n%B",
                      sha)).decode()
    full, tree, parents, an, ae, ad, cn, ce, cd, *message = out.split("\n")
    return {"sha": full, "tree": tree, "parents": parents.split(),
            "author": {"name": an, "email": ae, "date": ad},
            "committer": {"name": cn, "email": ce, "date": cd},
            "message": "\n".join(message).strip()}


@dataclass(frozen=True)
class Entry:
    type: str  # "file" or "dir"
    path: str
    sha: str
    size: int
    content: bytes | None = None  # files only


async def entry(repo: Path, sha: str, path: str) -> Entry | list[Entry]:
    """The file at `path` in commit `sha`, or the entries of the directory there."""
    path = path.strip("/")
    spec = f"{sha}:{path}"
    kind = (await _git(repo, "cat-file", "-t", spec)).decode().strip()
    if kind == "blob":
        content = await _git(repo, "cat-file", "blob", spec)
        blob = (await _git(repo, "rev-parse", spec)).decode().strip()
        return Entry("file", path, blob, len(content), content)
    if kind != "tree":
        raise GitMissing(path)
    listing = (await _git(repo, "ls-tree", "-l", spec if path else sha)).decode()
    entries = []
    for line in listing.splitlines():
        meta, _, name = line.partition("\t")
        _mode, obj_type, obj_sha, size = meta.split()
        entries.append(Entry("file" if obj_type == "blob" else "dir",
                             f"{path}/{name}" if path else name, obj_sha,
                             int(size) if size.isdigit() else 0))
    return entries


async def pull_commits(repo: Path, base: str, head: str) -> list[str]:
    """The commits a pull request from `head` into `base` holds (`base..head`), oldest
    first."""
    if base.startswith("-") or head.startswith("-"):
        raise GitMissing(f"{base}..{head}")
    out = await _git(repo, "rev-list", "--reverse", f"{base}..{head}")
    return out.decode().split()
