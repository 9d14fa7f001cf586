"""Files from people we do not fully trust, read with bounds: size for any file, and depth
and aliases for YAML.

The configuration (anyone with push to the default branch) and the smoke file (anyone who
can open a pull request) are a few lines; these bounds keep a hostile one from eating a
worker's memory or time: YAML aliases share nodes, so `&a [*a, *a, …]` nine levels deep is
a billion elements to anything that walks the result (a billion laughs), and a 372-byte
smoke file took 20 s to load before it was bounded. Every YAML file we read from a
repository goes through `load_bounded`, and files the worker reads whole (smoke file, RLS
suite) through `read_bounded`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


@dataclass(frozen=True)
class YamlLimits:
    max_bytes: int = 256 * 1024
    max_depth: int = 40
    max_nodes: int = 50_000  # after expanding every alias
    what: str = "a configuration"  # what the file is, for the message: "… is a few lines"


class InputRefused(ValueError):
    """The file cannot be taken: too big, or a YAML value that cannot be built."""


class InputTooBig(InputRefused):
    """The file passes one of the limits; the message names it."""


def read_bounded(path: Path, max_bytes: int, relpath: str) -> str:
    """The UTF-8 text of `path`, refusing a file larger than `max_bytes` without reading
    more than that (FileNotFoundError / UnicodeDecodeError as reading it would raise)."""
    with path.open("rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputTooBig(f"{relpath} is larger than {_size(max_bytes)}, the limit for a file "
                         f"deploybot reads; make it smaller (split it, or drop generated "
                         f"content)")
    return data.decode("utf-8")


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n // 1024} KiB"


def load_bounded(text: str, limits: YamlLimits = YamlLimits(),
                 build: Callable[[yaml.SafeLoader, yaml.Node], T] | None = None) -> T | Any:
    """yaml.safe_load (or `build(loader, root)` for callers that keep line numbers),
    refusing documents too large, too deep or too repetitive before building them.
    Raises yaml.YAMLError for bad syntax, InputTooBig / InputRefused otherwise."""
    if len(text) > limits.max_bytes:
        raise _too_big(f"larger than {_size(limits.max_bytes)}", limits)
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):  # a flat stream: no recursion
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > limits.max_depth:
                raise _too_big(f"nested more than {limits.max_depth} levels deep", limits)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set(), limits)
        try:
            return build(loader, node) if build else loader.construct_document(node)
        except (yaml.YAMLError, InputRefused):
            raise
        except Exception as exc:
            # PyYAML's own builders fail on some scalars: `!!int ''` (IndexError), `!!bool x`
            # (KeyError), 9 × 5000 (ValueError), `!!timestamp 2026-13-45` (ValueError), a
            # bad `!!timestamp` (AttributeError); a builder's own refusals are InputRefused
            raise InputRefused(f"a value cannot be read ({type(exc).__name__}: "
                                 f"{_short(str(exc))})") from None
    finally:
        loader.dispose()


def _too_big(problem: str, limits: YamlLimits) -> InputTooBig:
    return InputTooBig(f"{problem}; {limits.what} is a few lines")


def _expanded_size(node: yaml.Node, seen: dict[int, tuple[int, int]], path: set[int],
                   limits: YamlLimits) -> tuple[int, int]:
    """(values, depth) of `node` with every alias expanded, computed once per distinct
    node: a chain of aliases of aliases is shallow as text and deep once expanded, and
    whatever walks the result (the smoke file's line-keeping builder) recurses that deep."""
    if id(node) in path:
        raise _too_big("an alias refers to a node that contains it", limits)
    if id(node) in seen:
        return seen[id(node)]
    path.add(id(node))
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    size, depth = 1, 1
    for child in children:
        child_size, child_depth = _expanded_size(child, seen, path, limits)
        size += child_size
        depth = max(depth, child_depth + 1)
    path.discard(id(node))
    seen[id(node)] = (size, depth)
    if size > limits.max_nodes:
        raise _too_big(f"more than {limits.max_nodes:,} values once its aliases are expanded",
                       limits)
    if depth > limits.max_depth + 1:  # + 1: scalars are a level of their own here
        raise _too_big(f"nested more than {limits.max_depth} levels deep once its aliases "
                       f"are expanded", limits)
    return size, depth


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "…")
