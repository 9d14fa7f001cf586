"""YAML read with the line of every mapping and list, so each problem names its line."""

from __future__ import annotations

from typing import Any

import yaml

from service.bounded_input import InputRefused, YamlLimits, load_bounded


class LinedMap(dict[Any, Any]):
    line = 0
    key_lines: dict[Any, int]


class LinedList(list[Any]):
    line = 0
    item_lines: list[int]


class DuplicateKey(InputRefused):
    def __init__(self, key: Any, line: int) -> None:
        super().__init__(key)
        self.key = key
        self.line = line


def _convert(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = LinedMap()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = _convert(loader, key_node)
            if isinstance(key, list | dict):
                key = str(key)
            if key in out:
                raise DuplicateKey(key, key_node.start_mark.line + 1)
            out[key] = _convert(loader, value_node)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = LinedList()
        seq.line = node.start_mark.line + 1
        seq.item_lines = []
        for item in node.value:
            seq.append(_convert(loader, item))
            seq.item_lines.append(item.start_mark.line + 1)
        return seq
    return loader.construct_object(node, deep=True)


# The configuration's bounds on size, depth and aliases: `_convert` walks every alias, so
# unbounded nested aliases took 20 s in a 372-byte file.
LIMITS = YamlLimits(what="a smoke file")


def load_yaml(text: str) -> Any:
    return load_bounded(text, LIMITS, _convert)
