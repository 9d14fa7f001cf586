"""Read and validate `.github/deploybot.yml`, with one clear message per bad key."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import yaml

from service.bounded_input import InputRefused, YamlLimits, load_bounded, read_bounded
from service.config.model import Config, EnvironmentConfig, Paths, WatchConfig, default_config
from service.permissions import CONFIGURABLE

CONFIG_PATH = ".github/deploybot.yml"
SQUAWK_MODES = ("warn", "block", "off")
ROLLBACK_POLICIES = ("required", "backup")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_PROJECT_REF = re.compile(r"^[a-z]{20}$")  # the Management API's `ref` parameter
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")

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


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def bad(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def mapping(self, key: str, value: Any, allowed: Mapping[str, str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.bad(key or "(file)", f"expected a mapping, got {_kind(value)}")
            return {}
        for k in value:
            if k not in allowed:
                where = f"{key}.{_key(k)}" if key else _key(k)
                self.bad(where, f"unknown key; allowed: {', '.join(allowed)}")
        return {k: v for k, v in value.items() if k in allowed}

    def string(self, key: str, value: Any, pattern: re.Pattern[str] | None = None,
               hint: str = "") -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            self.bad(key, f"expected {hint or 'a string'}, got {_show(value)}")
            return None
        return value

    def boolean(self, key: str, value: Any) -> bool | None:
        if value is None:
            return None
        if not isinstance(value, bool):
            self.bad(key, f"expected true or false, got {_show(value)}")
            return None
        return value

    def number(self, key: str, value: Any, lo: float, hi: float, integer: bool = False
               ) -> float | None:
        if value is None:
            return None
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok or not (lo <= value <= hi):
            kind = "a whole number" if integer else "a number"
            self.bad(key, f"expected {kind} from {lo:g} to {hi:g}, got {_show(value)}")
            return None
        return float(value)

    def duration(self, key: str, value: Any, lo: float = 1.0, hi: float = 7 * 86400.0
                 ) -> float | None:
        if value is None:
            return None
        seconds: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str) and (m := _DURATION.match(value)) is not None:
            scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
            seconds = float(m.group(1)) * scale
        if seconds is None or not math.isfinite(seconds) or not lo <= seconds <= hi:
            self.bad(key, f"expected a duration like 30s, 5m or 1h, from {_seconds(lo)} to "
                          f"{_seconds(hi)}, got {_show(value)}")
            return None
        return seconds

    def choice(self, key: str, value: Any, options: tuple[str, ...]) -> str | None:
        if value is None:
            return None
        if value not in options:
            self.bad(key, f"expected one of {', '.join(options)}, got {_show(value)}")
            return None
        return str(value)

    def branches(self, key: str, value: Any) -> tuple[str, ...] | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(b, str) and b for b in value):
            self.bad(key, f"expected a branch name or a list of them, got {_show(value)}")
            return None
        return tuple(value)


def _key(key: Any) -> str:
    """A key as a message names it: plain words as they are, other text quoted, and a key
    YAML read as something else (`false`, `1`, `null`) as written plus what it was read as,
    so the text key 'False' and the boolean key false are never named alike."""
    if isinstance(key, str):
        return key if re.fullmatch(r"[\w-]{1,60}", key) else _show(key)
    if key is None:
        return "null (read as empty)"
    written = str(key).lower() if isinstance(key, bool) else _show(key)
    return f"{written} (read as {_kind(key)})"


def _seconds(value: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


def _kind(value: Any) -> str:
    return {list: "a list", dict: "a mapping", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields_doc(cls: type) -> dict[str, str]:
    return {f.name: f.name for f in fields(cls)}


_WATCH_KEYS = {
    "window": "window_seconds",
    "interval": "interval_seconds",
    "latency_p95_ms": "latency_p95_ms",
    "error_rate": "error_rate",
    "max_connections": "max_connections",
    "auto_rollback": "auto_rollback",
}
_ENV_KEYS = [f.name for f in fields(EnvironmentConfig) if f.name != "name"]


def _watch(c: _Checker, key: str, raw: Any, base: WatchConfig) -> WatchConfig:
    data = c.mapping(key, raw, {k: k for k in _WATCH_KEYS})
    parsers: dict[str, Callable[[str, Any], Any]] = {
        "window": c.duration,
        "interval": c.duration,
        "latency_p95_ms": lambda k, v: c.number(k, v, 1, 600_000),
        "error_rate": lambda k, v: c.number(k, v, 0, 1),
        "max_connections": lambda k, v: c.number(k, v, 1, 100_000, integer=True),
        "auto_rollback": c.boolean,
    }
    changes: dict[str, Any] = {}
    for k, v in data.items():
        parsed = parsers[k](f"{key}.{k}", v)
        if parsed is not None:
            changes[_WATCH_KEYS[k]] = int(parsed) if k == "max_connections" else parsed
    return replace(base, **changes)


def _environment(c: _Checker, name: str, raw: Any, base: EnvironmentConfig | None
                 ) -> EnvironmentConfig:
    key = f"environments.{name}"
    data = c.mapping(key, raw, {k: k for k in _ENV_KEYS})
    if base is None:
        upper = re.sub(r"[^A-Z0-9]", "_", name.upper())
        base = EnvironmentConfig(name=name, database_url_env=f"{upper}_DATABASE_URL")
    ch: dict[str, Any] = {}
    var_hint = "an environment variable name like STAGING_DATABASE_URL"
    token = data.get("supabase_access_token_env")
    if isinstance(token, str) and token.startswith(("sbp_", "sbp-")):
        # A personal access token pasted where its variable's name belongs: never echo it.
        c.bad(f"{key}.supabase_access_token_env", "this is an access token itself, not the "
              "name of the variable holding it; revoke it (it is in the repository now), put "
              "the new one in a variable such as SUPABASE_ACCESS_TOKEN and name that here")
        data = {k: v for k, v in data.items() if k != "supabase_access_token_env"}
    for k in ("database_url_env", "anon_key_env", "jwt_secret_env", "slack_webhook_env",
              "supabase_access_token_env"):
        if k in data:
            v = c.string(f"{key}.{k}", data[k], _ENV_VAR, var_hint)
            if v is not None:
                ch[k] = v
    if "functions_url" in data:
        v = c.string(f"{key}.functions_url", data["functions_url"],
                     re.compile(r"^https?://\S+$"), "an http(s) URL")
        if v is not None:
            ch["functions_url"] = v.rstrip("/")
    for k in ("production", "backup", "enable_leaked_password_protection",
              "approvals_on_any_commit"):
        if k in data and (b := c.boolean(f"{key}.{k}", data[k])) is not None:
            ch[k] = b
    if "deploy_on_push" in data and (br := c.branches(f"{key}.deploy_on_push",
                                                      data["deploy_on_push"])) is not None:
        ch["deploy_on_push"] = br
    if "required_permission" in data and (p := c.choice(
            f"{key}.required_permission", data["required_permission"], CONFIGURABLE)):
        ch["required_permission"] = p
    if "approvals" in data and (n := c.number(f"{key}.approvals", data["approvals"], 0, 10,
                                             integer=True)) is not None:
        ch["approvals"] = int(n)
    if "squawk" in data and (sq := c.choice(f"{key}.squawk", data["squawk"], SQUAWK_MODES)):
        ch["squawk"] = sq
    for k, lo, hi in (("lock_timeout_ms", 1, 600_000), ("statement_timeout_ms", 0, 86_400_000)):
        if k in data and (n := c.number(f"{key}.{k}", data[k], lo, hi, integer=True)) is not None:
            ch[k] = int(n)
    if "reconnect_within" in data and (d := c.duration(
            f"{key}.reconnect_within", data["reconnect_within"], 1.0, 600.0)) is not None:
        ch["reconnect_within"] = d
    if "deploy_window" in data and (w := c.string(f"{key}.deploy_window", data["deploy_window"])):
        from service.config.window import DeployWindow, WindowError

        try:
            DeployWindow.parse(w)
            ch["deploy_window"] = w
        except WindowError as exc:
            c.bad(f"{key}.deploy_window", str(exc))
    if "supabase_project_ref" in data and (ref := c.string(
            f"{key}.supabase_project_ref", data["supabase_project_ref"], _PROJECT_REF,
            "a project ref: the 20 lower-case letters in the project's dashboard URL")):
        ch["supabase_project_ref"] = ref
    for k in ("requires_staging", "lead"):
        if k in data and (s := c.string(f"{key}.{k}", data[k])) is not None:
            ch[k] = s
    if "rollback_scripts" in data and (r := c.choice(
            f"{key}.rollback_scripts", data["rollback_scripts"], ROLLBACK_POLICIES)):
        ch["rollback_scripts"] = r
    if "watch" in data:
        ch["watch"] = _watch(c, f"{key}.watch", data["watch"], base.watch)
    for k in ("supabase_access_token_env", "enable_leaked_password_protection"):
        said = any(p.startswith(f"{key}.{k}:") for p in c.problems)  # one message per key
        if (k in data and not said and "supabase_project_ref" not in data
                and not base.supabase_project_ref):
            c.bad(f"{key}.{k}", "only allowed for a hosted Supabase project: set "
                                f"{key}.supabase_project_ref too")
    return replace(base, name=name, **ch)


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
    c = _Checker()
    top = c.mapping("", raw, {k: k for k in ("environments", "paths", "default_branch",
                                             "allow_forks")})
    defaults = default_config()
    paths = Paths()
    if "paths" in top:
        pdata = c.mapping("paths", top["paths"], {**_fields_doc(Paths), "rls_suite": "tests"})
        if "rls_suite" in pdata and "tests" in pdata:
            c.bad("paths.rls_suite", "is the older name of paths.tests; set only paths.tests")
        pch: dict[str, str] = {}
        for k, v in pdata.items():
            s = c.string(f"paths.{k}", v, re.compile(r"^(?!/)(?!.*\.\.)[\w./-]+$"),
                         "a relative path inside the repository")
            if s is not None:
                pch["tests" if k == "rls_suite" else k] = s.rstrip("/")
        paths = replace(paths, **pch)
        paths_set = frozenset(pch)
    else:
        paths_set = frozenset()
    envs: dict[str, EnvironmentConfig] = {}
    if "environments" in top:
        raw_envs = top["environments"]
        if not isinstance(raw_envs, dict) or not raw_envs:
            c.bad("environments", "expected a mapping of environment names to settings")
        else:
            for name, env_raw in raw_envs.items():
                if not isinstance(name, str) or not _ENV_NAME.match(name):
                    c.bad(f"environments.{_key(name)}", "environment names are lower-case letters, "
                          "digits, - and _, starting with a letter")
                    continue
                envs[name] = _environment(c, name, env_raw, defaults.environments.get(name))
    else:
        envs = dict(defaults.environments)
    for env in envs.values():
        if env.requires_staging and env.requires_staging not in envs:
            c.bad(f"environments.{env.name}.requires_staging",
                  f"no environment named {env.requires_staging!r}; "
                  f"defined: {', '.join(envs)}")
    branch = c.string("default_branch", top.get("default_branch")) or "main"
    forks = c.boolean("allow_forks", top.get("allow_forks"))
    if c.problems:
        raise ConfigError(source, c.problems)
    return Config(environments=envs, paths=paths, default_branch=branch,
                  allow_forks=bool(forks), source=source, paths_set=paths_set)


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
