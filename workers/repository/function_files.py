"""The edge functions in a source tree, as the Supabase CLI sees them.

A function is a directory `<functions>/<slug>/` with an entrypoint (`index.ts` by default;
`index.js`, `index.tsx`, `index.jsx`, `index.mjs` also do) that calls `Deno.serve`.
Directories starting with `_` or `.` hold shared code (`_shared/`), never a function.
`supabase/config.toml` may set, per function, `[functions.<slug>]` `verify_jwt` (default
true), `entrypoint` and `import_map` (paths relative to the folder holding config.toml) and
`enabled`. A `deno.json` or `deno.jsonc` in the function's directory is its Deno config.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

ENTRYPOINTS = ("index.ts", "index.js", "index.tsx", "index.jsx", "index.mjs")
DENO_CONFIGS = ("deno.json", "deno.jsonc")
SLUG = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
WHAT_A_FUNCTION_IS = (
    "a function is a directory <functions>/<name>/ with an index.ts that calls Deno.serve "
    "(or an `entrypoint` set under [functions.<name>] in supabase/config.toml)")


class FunctionLayoutError(ValueError):
    """The functions folder or config.toml cannot be read as Supabase functions."""


@dataclass(frozen=True)
class EdgeFunction:
    slug: str
    # Paths inside the functions directory (POSIX, relative), as a release bundle holds them.
    entrypoint: str
    import_map: str | None = None
    deno_config: str | None = None
    verify_jwt: bool = True


@dataclass(frozen=True)
class FunctionSet:
    functions: tuple[EdgeFunction, ...]
    # Directories that look like functions but are not (no entrypoint), for a warning.
    skipped: tuple[str, ...] = ()
    disabled: tuple[str, ...] = field(default=())

    @property
    def slugs(self) -> tuple[str, ...]:
        return tuple(f.slug for f in self.functions)

    def get(self, slug: str) -> EdgeFunction | None:
        return next((f for f in self.functions if f.slug == slug), None)


def read_config_toml(path: Path | None) -> dict[str, dict[str, Any]]:
    """`[functions.<slug>]` tables of supabase/config.toml ({} when there is none)."""
    if path is None or not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FunctionLayoutError(f"{path.name}: not valid TOML ({exc})") from None
    functions = data.get("functions", {})
    if not isinstance(functions, dict):
        raise FunctionLayoutError(f"{path.name}: [functions] must be a table of "
                                  "[functions.<name>] tables")
    result: dict[str, dict[str, Any]] = {}
    for slug, table in functions.items():
        if not isinstance(table, dict):
            raise FunctionLayoutError(f"{path.name}: functions.{slug} must be a table")
        for key, kind in (("verify_jwt", bool), ("enabled", bool), ("entrypoint", str),
                          ("import_map", str)):
            if key in table and not isinstance(table[key], kind):
                raise FunctionLayoutError(
                    f"{path.name}: functions.{slug}.{key} must be a "
                    f"{'boolean' if kind is bool else 'string'}")
        result[str(slug)] = table
    return result


def config_toml_path(functions_dir: Path) -> Path | None:
    """The config.toml that configures `functions_dir`: Supabase keeps both in one folder
    (`supabase/config.toml` beside `supabase/functions/`); None when there is none."""
    candidate = functions_dir.parent / "config.toml"
    return candidate if candidate.is_file() else None


def _inside(functions_dir: Path, config_dir: Path, value: str, what: str) -> str:
    """A config.toml path (relative to its folder) as a path inside the functions dir."""
    target = (config_dir / value).resolve()
    root = functions_dir.resolve()
    if not target.is_relative_to(root):
        raise FunctionLayoutError(f"config.toml: {what} {value!r} is outside the functions "
                                  "directory; a release only holds that directory")
    return PurePosixPath(target.relative_to(root).as_posix()).as_posix()


def discover(functions_dir: Path, config_toml: Path | None = None) -> FunctionSet:
    """The functions in `functions_dir` (none when it does not exist). FunctionLayoutError
    when it holds files but no function, or config.toml is wrong."""
    if not functions_dir.is_dir():
        return FunctionSet(())
    settings = read_config_toml(config_toml)
    config_dir = config_toml.parent if config_toml is not None else functions_dir
    found: list[EdgeFunction] = []
    skipped: list[str] = []
    disabled: list[str] = []
    for entry in sorted(functions_dir.iterdir()):
        if not entry.is_dir() or entry.name.startswith(("_", ".")):
            continue
        table = settings.get(entry.name, {})
        if table.get("enabled") is False:
            disabled.append(entry.name)
            continue
        if "entrypoint" in table:
            entrypoint = _inside(functions_dir, config_dir, table["entrypoint"], "entrypoint")
            if not (functions_dir / entrypoint).is_file():
                raise FunctionLayoutError(
                    f"config.toml: functions.{entry.name}.entrypoint {table['entrypoint']!r} "
                    "does not exist at this commit")
        else:
            name = next((n for n in ENTRYPOINTS if (entry / n).is_file()), None)
            if name is None:
                skipped.append(entry.name)
                continue
            entrypoint = f"{entry.name}/{name}"
        if not SLUG.match(entry.name):
            raise FunctionLayoutError(
                f"{entry.name!r} is not a valid function name: start with a letter, then "
                "letters, digits, '-' or '_'")
        import_map = (_inside(functions_dir, config_dir, table["import_map"], "import_map")
                      if "import_map" in table else None)
        deno_config = next((f"{entry.name}/{n}" for n in DENO_CONFIGS
                            if (entry / n).is_file()), None)
        found.append(EdgeFunction(slug=entry.name, entrypoint=entrypoint,
                                  import_map=import_map, deno_config=deno_config,
                                  verify_jwt=bool(table.get("verify_jwt", True))))
    unknown = sorted(set(settings) - {f.slug for f in found} - set(disabled))
    unknown = [s for s in unknown if not (functions_dir / s).is_dir()]
    if unknown:
        raise FunctionLayoutError(
            f"config.toml configures [functions.{unknown[0]}] but {functions_dir.name}/"
            f"{unknown[0]}/ does not exist at this commit")
    # Hidden files (.gitkeep, .env.example) keep an empty folder; they are no attempt at one.
    visible = (p for p in functions_dir.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(functions_dir).parts))
    if not found and not disabled and any(visible):
        raise FunctionLayoutError(f"{functions_dir.name}/ holds files but no function: "
                                  f"{WHAT_A_FUNCTION_IS}")
    return FunctionSet(tuple(found), tuple(skipped), tuple(disabled))
