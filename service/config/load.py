"""Read `.github/deploybot.yml` with bounds, validate it against the models (model.py) and
say what is wrong with one clear message per bad key."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from service.bounded_input import InputRefused, YamlLimits, load_bounded, read_bounded
from service.config.kinds import WORDED, show
from service.config.model import Config, default_config, file_fields, file_keys, from_file

CONFIG_PATH = ".github/deploybot.yml"

# The file is a few lines; a pull request cannot change it, but anyone with push to the
# default branch can: it is read with the bounds every repository YAML file gets.
LIMITS = YamlLimits(what="a configuration")
MAX_TEXT = LIMITS.max_bytes


class ConfigError(ValueError):
    """The configuration is invalid; `problems` holds one line per bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(
            f"{source}: invalid configuration\n" + "\n".join(f"  - {p}" for p in problems)
        )


def _key(key: Any) -> str:
    """A key as a message names it: plain words as they are, other text quoted, and a key
    YAML read as something else (`false`, `1`, `null`) as written plus what it was read as,
    so the text key 'False' and the boolean key false are never named alike."""
    if isinstance(key, str):
        return key if re.fullmatch(r"[\w-]{1,60}", key) else show(key)
    if key is None:
        return "null (read as empty)"
    written = str(key).lower() if isinstance(key, bool) else show(key)
    return f"{written} (read as {_kind(key)})"


def _kind(value: Any) -> str:
    return {list: "a list", dict: "a mapping", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _model_at(loc: tuple[str | int, ...]) -> type | None:
    """The model whose mapping `loc` points into (Config for the file itself)."""
    kind: Any = Config
    for part in loc:
        while typing.get_origin(kind) in (typing.Annotated, typing.Union, types.UnionType):
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        if typing.get_origin(kind) is dict:
            kind = typing.get_args(kind)[1]
        elif isinstance(kind, type) and dataclasses.is_dataclass(kind) and isinstance(part, str):
            field = file_fields(kind).get(part)
            if field is None:
                return None
            kind = kind.__pydantic_fields__[field].annotation  # type: ignore[attr-defined]
        else:
            return None
    while typing.get_origin(kind) in (typing.Annotated, typing.Union, types.UnionType):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    return kind if isinstance(kind, type) and dataclasses.is_dataclass(kind) else None


def _problem(error: ErrorDetails) -> tuple[tuple[Any, ...], bool, str]:
    """(the bad key's path, whether the key itself is bad, what is wrong)."""
    loc, kind, given = tuple(error["loc"]), error["type"], error.get("input")
    if loc[-1:] == ("[key]",):  # a mapping's key: the loc names it as text, the input as read
        return (*loc[:-2], given), True, error["msg"]
    if kind == "invalid_key":  # a key of a model's mapping that is not text
        loc = (*loc[:-1], given)
        kind = "unexpected_keyword_argument"
    if kind == WORDED:
        return loc, False, error["msg"]
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        model = _model_at(loc[:-1])
        allowed = f"; allowed: {', '.join(file_keys(model))}" if model else ""
        return loc, True, f"unknown key{allowed}"
    if kind in ("dataclass_type", "dataclass_exact_type", "dict_type", "model_type"):
        return loc, False, f"expected a mapping, got {_kind(given)}"
    return loc, False, f"not allowed here ({error['msg']})"  # a kind with no message of ours


def _under(path: tuple[Any, ...], key: tuple[Any, ...]) -> bool:
    return path[:len(key)] == key  # the bad key itself or below it


def problems_of(exc: ValidationError) -> list[str]:
    """pydantic's errors as the file's reader needs them: the key's path (as written), and
    what is wrong or allowed; one line per key, nothing below a key that is itself bad."""
    lines: dict[tuple[Any, ...], str] = {}
    bad_keys: list[tuple[Any, ...]] = []
    for error in exc.errors(include_url=False):
        path, key_is_bad, message = _problem(error)
        if path in lines or any(_under(path, key) for key in bad_keys):
            continue
        if key_is_bad:
            bad_keys.append(path)
        lines[path] = f"{'.'.join(_key(p) for p in path) or '(file)'}: {message}"
    return list(lines.values())


def parse_config(text: str, source: str = CONFIG_PATH) -> Config:
    """Validate YAML text; raise ConfigError listing every bad key."""
    try:
        raw = load_bounded(text, LIMITS)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(source, [f"(file): {problem}{where}"]) from None
    except InputRefused as exc:
        raise ConfigError(source, [f"(file): {exc}"]) from None
    try:
        config = from_file(raw)
    except ValidationError as exc:
        raise ConfigError(source, problems_of(exc)) from None
    return dataclasses.replace(config, source=source)


def load_config(repo_root: Path) -> Config:
    """The configuration of a checked-out repository, or the built-in default."""
    path = repo_root / CONFIG_PATH
    if not path.exists():
        return default_config()
    try:
        text = read_bounded(path, LIMITS.max_bytes, CONFIG_PATH)
    except InputRefused as exc:
        raise ConfigError(CONFIG_PATH, [f"(file): {exc}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(CONFIG_PATH, [f"(file): cannot be read ({exc})"]) from None
    return parse_config(text, CONFIG_PATH)
