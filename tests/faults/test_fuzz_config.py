"""Bad `.github/deploybot.yml` (issue 7, item 6): whatever the text, parse_config gives a
Config or a ConfigError with one message per bad key naming the file, the key and what is
allowed — never another exception, never a hang or a worker's memory eaten by an alias bomb.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from service.config.load import MAX_TEXT, ConfigError, parse_config
from service.config.model import Config, EnvironmentConfig, Paths

REPO = Path(__file__).resolve().parents[2]
SOURCE = ".github/deploybot.yml (on main)"
MANY = settings(max_examples=300, deadline=None, database=None)

TOP = ["environments", "paths", "default_branch", "allow_forks"]
ENV = [f.name for f in fields(EnvironmentConfig) if f.name != "name"]
WATCH = ["window", "interval", "latency_p95_ms", "error_rate", "max_connections",
         "auto_rollback"]
PATHS = [f.name for f in fields(Paths)]
ENV_NAMES = ["staging", "production", "canary", "Prod", "1st", "qa-eu_2", "", "a" * 41]
# What a message says besides the key: what was expected or is allowed.
HINTS = ("expected", "allowed", "unknown", "environment names are", "no environment named",
         "time of day", "must end after", "(file)")


def check(text: str) -> Config | ConfigError:
    """The property itself: a Config, or a ConfigError that reads well."""
    try:
        return parse_config(text, SOURCE)
    except ConfigError as exc:
        assert str(exc).startswith(f"{SOURCE}: invalid configuration"), str(exc)
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        keys = []
        for problem in exc.problems:
            key, sep, message = problem.partition(": ")
            assert sep and key and message, problem
            assert any(h in problem for h in HINTS), problem
            # a value is shown shortened; the longest message lists an environment's 23 keys
            assert len(problem) < 600, problem
            keys.append(key)
        assert len(keys) == len(set(keys)), exc.problems  # one message per bad key
        return exc


def near(words: list[str]) -> st.SearchStrategy[Any]:
    """Real keys, and keys one slip away from them."""
    def slip(word: str, i: int, c: str, how: int) -> str:
        i %= max(1, len(word))
        return [word.upper(), word[:i] + word[i + 1:], word[:i] + c + word[i:],
                word.replace("_", "-"), " " + word, word + " "][how]

    return st.one_of(
        st.sampled_from(words),
        st.builds(slip, st.sampled_from(words), st.integers(0, 30),
                  st.characters(codec="utf-8"), st.integers(0, 5)),
        st.text(max_size=8), st.integers(-3, 3), st.booleans(), st.none())


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-2**80, 2**80),
    st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 1e-320]),
    st.text(max_size=30), st.dates(),
    st.sampled_from(["5m", "30s", "1h", "0s", "-1s", "1e400", "999999999999h", "10ms", "1.5m",
                     "write", "admin", "god", "main", "STAGING_DATABASE_URL", "1BAD", "$X",
                     "http://x", "ftp://x", "/etc", "../x", "migrations", "staging",
                     "Mon-Thu 09:00-16:00 America/Toronto", "Mon-Sun 00:00-24:00 UTC",
                     "Fri-Mon 23:00-01:00 Europe/Paris", "Xyz 9:00-10:00 UTC",
                     "Mon 10:00-09:00 UTC", "Mon 09:00-10:00 " + "A" * 300,
                     "Mon 09:00-10:00 " + "a/" * 500 + "a", "Mon 25:00-26:00 UTC", "@lead"]))


def junk(depth: int = 2) -> st.SearchStrategy[Any]:
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(near(TOP + ENV + WATCH), inner, max_size=3),
                        max_leaves=8)


def section(keys: list[str], value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.dictionaries(near(keys), value, max_size=6) | junk()


watch_docs = section(WATCH, scalars | junk())
env_docs = section(ENV, st.one_of(scalars, junk(), watch_docs))
config_docs = st.one_of(
    st.dictionaries(near(TOP), st.one_of(
        scalars, junk(), section(PATHS, scalars),
        st.dictionaries(st.sampled_from(ENV_NAMES) | near(ENV_NAMES), env_docs, max_size=3),
    ), max_size=5),
    junk(),
)


def dump(doc: Any) -> str:
    try:
        return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, ValueError):  # a key YAML cannot write: write the JSON instead
        return json.dumps(doc, default=str)


@MANY
@given(doc=config_docs)
def test_documents_near_a_real_configuration(doc: Any) -> None:
    check(dump(doc))


@MANY
@given(doc=config_docs, where=st.sampled_from(["staging", "production"]),
       key=near([*ENV, "watch"]))
def test_the_real_configuration_with_one_key_spoilt(doc: Any, where: str, key: Any) -> None:
    real = yaml.safe_load((REPO / ".github" / "deploybot.yml").read_text())
    real["environments"][where][key] = doc
    check(dump(real))


PIECES = ["&a ", "*a", "&b ", "*b", "<<: ", "<<: *a", "!!int ", "!!float ", "!!bool ",
          "!!timestamp ", "!!binary ", "!!set ", "!!omap ", "!!pairs ", "!!str ", "!!null ",
          "!!python/object:os.system ", "!<tag:yaml.org,2002:int> ", "!local ", "? ", "- ",
          "[", "]", "{", "}", ": ", ",", "\n", "\n  ", "\n    ", "'", '"', "#", "---\n", "...\n",
          "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "|\n  ", ">-\n  ", "\t", "\\", "\x00", "\ufeff",
          "environments", "staging", "watch", "window", "approvals", "paths", "1e999",
          "9" * 5000, "0x1F", "0o17", "1_000", ".nan", ".inf", "~", "2026-13-45", "2026-01-07",
          "yes", "no", "on", "=", "<<"]
yamlish = st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=40).map("".join)


@MANY
@given(text=yamlish)
def test_text_made_of_yaml_syntax(text: str) -> None:
    check(text)


@MANY
@given(text=st.text(max_size=200))
def test_any_text(text: str) -> None:
    check(text)


@settings(max_examples=40, deadline=None, database=None)
@given(width=st.integers(2, 12), depth=st.integers(2, 20),
       use=st.sampled_from(["top", "approvals", "deploy_on_push", "watch", "key", "merge",
                            "env"]))
def test_alias_bombs_are_refused_without_expanding_them(width: int, depth: int,
                                                        use: str) -> None:
    # Small enough that code which expands them fails here rather than hangs; the real
    # billion laughs is the next test's, in a child process with bounded memory.
    assume(width ** depth <= 2_000_000)
    text = bomb(width, depth, use)
    result = check(text)
    if width ** depth > 60_000:  # well past the limit: refused, saying why
        assert isinstance(result, ConfigError)
        assert any("aliases are expanded" in p for p in result.problems), result.problems


def bomb(width: int, depth: int, use: str) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, depth):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    last = f"*l{depth - 1}"
    tail = {
        "top": "",
        "approvals": f"environments: {{staging: {{approvals: {last}}}}}",
        "deploy_on_push": f"environments: {{staging: {{deploy_on_push: {last}}}}}",
        "watch": f"environments: {{staging: {{watch: {{window: {last}}}}}}}",
        "key": f"environments: {{staging: {{? {last} : 1}}}}",
        "merge": f"environments: {{staging: {{<<: {last}}}}}",
        "env": f"environments: {last}",
    }[use]
    return "\n".join(lines) + "\n" + tail + "\n"


def test_self_referencing_and_oversized_documents() -> None:
    for text in ["environments: &e\n  staging:\n    watch: *e\n",
                 "environments:\n  staging:\n    deploy_on_push: &l [main, *l]\n",
                 "a: " + "[" * 10_000 + "]" * 10_000,
                 "".join("  " * i + f"k{i}:\n" for i in range(200)),
                 "# " + "x" * MAX_TEXT + "\n", "a: " + "9" * 5000,
                 "environments: {staging: {lead: !!timestamp 2026-13-45}}",
                 "environments: {staging: {approvals: !!int x}}",
                 "environments: {staging: {deploy_window: 'Mon 09:00-10:00 " + "A" * 300 + "'}}"]:
        assert isinstance(check(text), ConfigError), text[:80]


def test_a_bomb_neither_hangs_nor_eats_memory() -> None:
    """In a child process with 1 GiB of address space: the unguarded loader builds the bomb
    cheaply, then anything that walks it (a repr in an error message) runs out of memory or
    never ends; guarded, the child prints the error at once."""
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from service.config.load import ConfigError, parse_config\n"
        "try:\n    parse_config(sys.stdin.read())\n"
        "except ConfigError as exc:\n    print(exc.problems[0])\n"
    )
    for use in ("approvals", "deploy_on_push", "watch"):
        out = subprocess.run([sys.executable, "-c", code], input=bomb(9, 9, use), text=True,
                             capture_output=True, cwd=REPO, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "aliases are expanded" in out.stdout


def test_valid_documents_still_parse() -> None:
    config = check((REPO / ".github" / "deploybot.yml").read_text())
    assert isinstance(config, Config)
    assert config.environments["staging"].watch.interval_seconds == 30
    shared = ("environments:\n"
              "  staging: &s\n    deploy_on_push: [main]\n"
              "    watch: &w {window: 30m, interval: 10s}\n"
              "  canary:\n    <<: *s\n    watch: *w\n")  # anchors as people use them
    config = check(shared)
    assert isinstance(config, Config), config
    assert config.environments["canary"].watch.window_seconds == 1800
    assert config.environments["canary"].deploy_on_push == ("main",)
    assert isinstance(check("environments:\n  staging:\n    lead: !!str 2026-01-07\n"),
                      Config)
