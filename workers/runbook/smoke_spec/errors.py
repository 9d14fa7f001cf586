"""pydantic's errors about a smoke file as lines a user can act on: the key path as written
in the file (`checks[0].http.method`), its line, and what is allowed — never pydantic's own
text. The wording comes from the models (description, errorMessage, titles); this module
only finds, for an error's `loc`, the key, the line and the model field it is about."""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Discriminator, Tag
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from workers.runbook.smoke_spec.model import CHECK_KIND_ERROR, KINDS, MISSING, Problem
from workers.runbook.smoke_spec.yaml_lines import LinedList, LinedMap

Loc = tuple[int | str, ...]


@dataclass
class Node:
    """One step of a `loc`: a place in the file and the type the models expect there."""

    key: str
    line: int
    raw: Any  # the file's value here; MISSING when absent
    base: Any  # the expected type, without its Annotated metadata
    infos: list[Any] = field(default_factory=list)  # FieldInfo, Discriminator
    name: str = ""  # the key it was reached by
    is_field: bool = True  # a model's field (or the file), not a list item or mapping entry

    @property
    def fields(self) -> list[FieldInfo]:
        return [i for i in self.infos if isinstance(i, FieldInfo)]

    def _first(self, attr: str) -> str | None:
        for info in self.fields:
            value = getattr(info, attr)
            if isinstance(value, str):
                return value
        return None

    @property
    def description(self) -> str | None:
        return self._first("description")

    @property
    def noun(self) -> str:
        return self._first("title") or self.name

    @property
    def error_message(self) -> str | None:
        for info in self.fields:
            if isinstance(info.json_schema_extra, dict):
                message = info.json_schema_extra.get("errorMessage")
                if isinstance(message, str):
                    return message
        if _is_model(self.base):
            extra = self.base.model_config.get("json_schema_extra")
            if isinstance(extra, dict) and isinstance(extra.get("errorMessage"), str):
                return str(extra["errorMessage"])
        return None


def problems(errors: Sequence[ErrorDetails], root: type[BaseModel],
             data: Any) -> list[Problem]:
    """One Problem per error (repeats of one key and message left out), in file order."""
    out: list[Problem] = []
    for error in errors:
        if _after_failed_items(error):
            continue
        problem = _problem(error, root, data)
        if problem not in out:
            out.append(problem)
    return sorted(out, key=lambda p: p.line)  # stable: one line's problems keep their order


def _after_failed_items(error: ErrorDetails) -> bool:
    """A list too short only because its failing items were left out (pydantic counts
    after validation): those items are reported, the list is not."""
    given, minimum = error.get("input"), error.get("ctx", {}).get("min_length")
    return (error["type"] == "too_short" and isinstance(given, list)
            and isinstance(minimum, int) and len(given) >= minimum)


def problem_at(loc: Loc, message: str, root: type[BaseModel], data: Any) -> Problem:
    """A problem found outside pydantic (references.py), named like pydantic's."""
    nodes, _ = locate(loc, root, data)
    return Problem(nodes[-1].key, message, nodes[-1].line)


def locate(loc: Loc, root: type[BaseModel], data: Any) -> tuple[list[Node], str | None]:
    """The nodes `loc` passes through, and the key it names that the model does not have
    (an unknown key), if any."""
    nodes = [Node("(file)", 1, data, root)]
    for part in loc:
        here = nodes[-1]
        if part == "[key]" and len(nodes) > 1:
            # pydantic names a mapping's key after its entry: `headers.X.[key]` is about X.
            mapping = _without_none(nodes[-2].base)
            key_base, key_infos = _unwrap(get_args(mapping)[0])
            nodes[-1] = Node(here.key, here.line, here.name, key_base, key_infos,
                             name=here.name, is_field=True)  # the key's mistake alone
            continue
        base, infos = _unwrap(here.base)
        member = _tagged_member(base, here.infos + infos, part)
        if member is not None:  # a union's tag in the loc: no key in the file
            member_base, member_infos = _unwrap(member)
            here.base, here.infos = member_base, here.infos + member_infos
            continue
        base = _without_none(base)
        origin = get_origin(base)
        if _is_model(base):
            found = next(((n, f) for n, f in base.model_fields.items()
                          if part in (n, f.alias)), None)
            if found is None:
                return nodes, str(part)
            annotation, info = found[1].annotation, found[1]
            nodes.append(_child(here, str(part), annotation, [info], f".{part}"))
        elif origin in (tuple, list) and isinstance(part, int):
            nodes.append(_child(here, part, get_args(base)[0], [], f"[{part}]"))
        elif origin in (dict, Mapping):
            nodes.append(_child(here, str(part), get_args(base)[1], [], f".{part}"))
        else:
            break
    return nodes, None


def _child(parent: Node, part: int | str, annotation: Any, infos: list[Any],
           suffix: str) -> Node:
    raw, line = MISSING, parent.line
    container = parent.raw
    if isinstance(container, Mapping) and isinstance(part, str) and part in container:
        raw = container[part]
        line = container.key_lines.get(part, line) if isinstance(container, LinedMap) else line
    elif isinstance(container, list) and isinstance(part, int) and part < len(container):
        raw = container[part]
        if isinstance(container, LinedList) and part < len(container.item_lines):
            line = container.item_lines[part]
    elif isinstance(container, LinedMap | LinedList):
        line = container.line or line
    base, annotated = _unwrap(annotation)
    key = suffix.lstrip(".") if parent.key == "(file)" else parent.key + suffix
    return Node(key, line, raw, base, infos + annotated,
                name=part if isinstance(part, str) else parent.name,
                is_field=bool(infos))


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The type under Annotated, and its metadata (FieldInfo, Discriminator, …)."""
    metadata: list[Any] = []
    while get_origin(annotation) is Annotated:
        annotation, *more = get_args(annotation)
        metadata += more
    return annotation, [m for m in metadata if isinstance(m, FieldInfo | Discriminator)]


def _tagged_member(base: Any, metadata: list[Any], part: int | str) -> Any:
    if not any(isinstance(m, Discriminator) for m in metadata):
        return None
    for member in get_args(base):
        if any(isinstance(m, Tag) and m.tag == part for m in get_args(member)[1:]):
            return member
    return None


def _without_none(base: Any) -> Any:
    if get_origin(base) in (Union, types.UnionType):
        rest = [a for a in get_args(base) if a is not type(None)]
        if len(rest) == 1:
            return _unwrap(rest[0])[0]
    return base


def _is_model(base: Any) -> bool:
    return isinstance(base, type) and issubclass(base, BaseModel)


# --------------------------------------------------------------------------- wording


def _problem(error: ErrorDetails, root: type[BaseModel], data: Any) -> Problem:
    nodes, unknown = locate(tuple(error["loc"]), root, data)
    here = nodes[-1]
    if unknown is not None:
        model = _without_none(here.base)
        container = here.raw
        line = (container.key_lines.get(unknown, here.line)
                if isinstance(container, LinedMap) else here.line)
        key = unknown if here.key == "(file)" else f"{here.key}.{unknown}"
        return Problem(key, f"unknown key in {_title(model)}; allowed: {_keys(model)}", line)
    kind = error["type"]
    value = error.get("input")
    if kind in ("value_error", "assertion_error"):
        return Problem(here.key, str(error.get("ctx", {}).get("error", error["msg"])),
                       here.line)
    if kind == CHECK_KIND_ERROR:
        return Problem(here.key, _check_kind(value), here.line)
    if kind != "missing":
        # The nearest errorMessage explains every mistake inside its value, up to the
        # model field it belongs to (a wrong list item is told what the list allows).
        for node in reversed(nodes):
            message = node.error_message
            if message is not None:
                return Problem(node.key, message.replace("{input}", _shown(node.raw)),
                               node.line)
            if node.is_field:
                break
    return Problem(here.key, _generic(kind, here, value, error["msg"]), here.line)


def _generic(kind: str, node: Node, value: Any, msg: str) -> str:
    about = f" ({node.description})" if node.description else ""
    base = _without_none(node.base)
    if kind == "missing" or (kind == "too_short" and node.description):
        return f"is required: {node.description}" if node.description else "is required"
    if kind == "literal_error":
        allowed = [str(a) for a in get_args(base)] if get_origin(base) is Literal else []
        return f"unknown {node.noun} {_shown(value)}; allowed: {', '.join(allowed)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if _is_model(base):
            return f"must be a mapping ({_title(base)}: {_keys(base)}), not {_shown(value)}"
        return f"must be a mapping{about}, not {_shown(value)}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list{about}, not {_shown(value)}"
    if kind.startswith("string_"):
        return f"must be a non-empty string{about}, not {_shown(value)}"
    if kind == "bool_type":
        return f"must be true or false, not {_shown(value)}"
    if kind.startswith(("int_", "float_")):
        return f"must be a number{about}, not {_shown(value)}"
    # Anything else: pydantic's sentence without its "Input should" opening.
    return msg.replace("Input should", "should", 1)


def _check_kind(value: Any) -> str:
    if not isinstance(value, Mapping):
        return (f"must be a mapping (a check: name, one of {', '.join(KINDS)}, expect), "
                f"not {_shown(value)}")
    kinds = [k for k in KINDS if k in value]
    return f"needs exactly one of {', '.join(KINDS)}" + (f" (has {', '.join(kinds)})"
                                                         if kinds else "")


def _title(model: Any) -> str:
    return str(model.model_config.get("title") or model.__name__)


def _keys(model: Any) -> str:
    return ", ".join(f.alias or n for n, f in model.model_fields.items())


def _shown(value: Any) -> str:
    """A value as the user wrote it: scalars quoted, containers named."""
    if value is MISSING or value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
