"""What a confined command may see: the paths bound into it, its environment, its network."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Bind:
    """A host path made visible inside the sandbox at `target`.

    `copy=True` binds a private read-only copy made for this run instead of the path itself:
    the sandbox's user may not be able to read the original (a 0700 cache), and the command
    must see neither later changes to it nor its neighbours."""

    source: Path
    target: str
    writable: bool = False
    copy: bool = False


@dataclass(frozen=True)
class Policy:
    """The whole world of a confined command: nothing of the worker's environment, files or
    processes is in it unless named here."""

    binds: tuple[Bind, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str = "/"
    # False: an empty network namespace of its own, not even the host's loopback. A
    # function that must reach its database shares the host's network and is held to that
    # database by its runtime's permissions (Deno's --allow-net).
    network: bool = False
