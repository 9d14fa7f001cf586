"""What GitHub must not learn about the machine: internal hosts, ports and paths.

A pull request's readers see the check runs, comments and issues: the worker's database
URLs (`postgresql://…@127.0.0.1:54331/stg_…`), the function host's loopback address and the
worker's file paths (backups, checkouts, data directory) are of no use to them and tell an
attacker how the worker is laid out. Every body sent to GitHub passes `hide_json` after
redaction (service/github/outgoing.py): a database URL becomes "the environment database",
a loopback address "a local address", a path under a registered internal folder its
repository path (checkouts) or its file name. URL fields (`details_url`, `log_url`, …) are
links the operator configured and are left alone.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping
from pathlib import Path

_DATABASE_URL = re.compile(r"\b(?:postgres(?:ql)?|rediss?)://[^\s'\"<>)\]`]+")
_LOOPBACK = re.compile(
    r"\b(?:https?://)?(?:127(?:\.\d{1,3}){3}|localhost|0\.0\.0\.0|\[::1\])"
    r"(?::\d{1,5})?(?:/[^\s'\"<>)\]`]*)?")
_CHECKOUT = re.compile(r"^/checkouts/[0-9a-f]{40}/")

_lock = threading.Lock()
_roots: set[str] = set()
_allowed: set[str] = set()


def register_root(path: str | Path) -> None:
    """A folder of the worker's (data directory, temporary folders) no body may name."""
    text = str(Path(path).resolve()).rstrip("/")
    if len(text) > 1:
        with _lock:
            _roots.add(text)


def allow(url: str) -> None:
    """An address that is public on purpose (DEPLOYBOT_PUBLIC_URL, even on loopback)."""
    if url:
        with _lock:
            _allowed.add(url.rstrip("/"))


def _path(match: re.Match[str], root: str) -> str:
    rest = match.group(0)[len(root):]
    checkout = _CHECKOUT.match(rest)
    if checkout:
        return rest[checkout.end():]  # the file's path in the repository
    name = rest.rstrip("/").rsplit("/", 1)[-1]
    return f"{name} (on the worker)" if name else "(a folder on the worker)"


def hide(text: str) -> str:
    if not text:
        return text
    with _lock:
        roots, allowed = sorted(_roots, key=len, reverse=True), tuple(_allowed)
    for root in roots:
        if root in text:
            pattern = re.compile(re.escape(root) + r"(?:/[^\s'\"<>)\]`:;,]*|(?![\w.-]))")
            text = pattern.sub(functools.partial(_path, root=root), text)
    text = _DATABASE_URL.sub("the environment database", text)

    def loopback(m: re.Match[str]) -> str:
        found = m.group(0)
        if any(found.startswith(a) for a in allowed):
            return found
        return "a local address"

    return _LOOPBACK.sub(loopback, text)


def internal_url(url: str) -> bool:
    """Whether a link (a `*_url` field, left alone by `hide_json`) would name an internal
    host: a loopback or database address that was not made public on purpose (`allow`)."""
    with _lock:
        allowed = tuple(_allowed)
    if any(url.startswith(a) for a in allowed):
        return False
    return bool(_LOOPBACK.match(url) or _DATABASE_URL.match(url))


def hide_json(value: object, key: str = "") -> object:
    """Every string of a JSON-like body, hidden — except the values of `*_url` keys."""
    if isinstance(value, str):
        return value if key.endswith("_url") or key == "url" else hide(value)
    if isinstance(value, Mapping):
        return {k: hide_json(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [hide_json(v, key) for v in value]
    return value
