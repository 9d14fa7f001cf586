"""Unpack a tar archive we did not make ourselves, member by member checked first.

Every archive the worker unpacks comes from a commit (git archive, a GitHub tarball) or a
function release built from one: untrusted. `tarfile`'s "data" filter is not enough on
the Pythons we support (3.11.7 here): its link checks have known bypasses
(CVE-2025-4517, symlink chains past PATH_MAX). So before anything is written, each member
must be a regular file or a directory, under a relative path without `..`; links of any
kind are refused (no deployable tree needs one, and a chain of links defeats every lexical
check). The filter still runs, for the modes it sanitises.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from pathlib import Path

MAX_MEMBERS = 100_000
MAX_UNPACKED_BYTES = 2 * 1024 * 1024 * 1024  # 2 GiB: a tarball bomb stops here


class UnsafeArchive(ValueError):
    """The archive holds a member we will not unpack; the message names it and why."""


def extract_tar(data: bytes, dest: Path, *, strip_top: bool = False) -> None:
    """Unpack `data` (tar, optionally compressed) into the empty directory `dest`; with
    `strip_top`, without its top directory (GitHub's `owner-repo-sha/`). Raises
    UnsafeArchive, before writing anything, if a member is not a plain file or directory
    under a safe relative path."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        members: list[tarfile.TarInfo] = []
        total = 0
        for member in tar:
            name = _inside_name(member.name, strip_top)
            if name is None:
                continue
            _check_type(member)
            total += member.size
            if len(members) >= MAX_MEMBERS or total > MAX_UNPACKED_BYTES:
                raise UnsafeArchive(
                    f"the archive holds more than {MAX_MEMBERS:,} files or "
                    f"{MAX_UNPACKED_BYTES // 1024 ** 3} GiB unpacked; deploybot does not "
                    f"unpack it (keep large assets out of the repository)")
            member.name = name
            members.append(member)
        root = dest.resolve()
        for member in members:
            if not (root / member.name).resolve().is_relative_to(root):
                raise UnsafeArchive(f"archive member {member.name!r} would be written "
                                    f"outside the directory it is unpacked into")
        tar.extractall(dest, members=members, filter="data")


def _inside_name(name: str, strip_top: bool) -> str | None:
    """The member's path inside the destination, normalised; None for the archive's own
    top directory; UnsafeArchive when it is absolute or climbs out."""
    shown = name
    if "\0" in name or "\\" in name:
        raise UnsafeArchive(f"archive member {shown!r} has a NUL or backslash in its path; "
                            f"deploybot does not unpack it")
    if name.startswith("/"):
        raise UnsafeArchive(f"archive member {shown!r} has an absolute path; deploybot "
                            f"unpacks only relative paths")
    if ".." in name.split("/"):
        raise UnsafeArchive(f"archive member {shown!r} climbs out with '..'; deploybot does "
                            f"not unpack it")
    if strip_top:
        _, _, name = name.partition("/")
    name = posixpath.normpath(name) if name else ""
    if name in ("", "."):
        return None
    if name.startswith(("/", "../")) or name == "..":  # normpath cannot, but never assume
        raise UnsafeArchive(f"archive member {shown!r} escapes the directory it is unpacked "
                            f"into")
    return name


def _check_type(member: tarfile.TarInfo) -> None:
    if member.isreg() or member.isdir():
        return
    if member.issym() or member.islnk():
        kind = "a symbolic link" if member.issym() else "a hard link"
        raise UnsafeArchive(
            f"archive member {member.name!r} is {kind} (to {member.linkname!r}); deploybot "
            f"unpacks only regular files and directories: replace the link in the "
            f"repository with the file it points to")
    kind = ("a FIFO" if member.isfifo() else "a device" if member.isdev()
            else f"of tar type {member.type!r}")
    raise UnsafeArchive(f"archive member {member.name!r} is {kind}; deploybot unpacks only "
                        f"regular files and directories")
