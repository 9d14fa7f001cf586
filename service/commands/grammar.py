"""The command grammar. One place defines every command a comment can carry.

A command is the first line of a comment, starting with `/`, case-insensitive. Anything in
a code block or a quote is not a command. A command must match exactly: extra words are an
error the bot explains — it never guesses, and never falls back to another environment.
The command and the environment are written plainly: ASCII, no quotes or escapes (only a
reason may be quoted), so `/de"ploy" st'ag'ing` or a look-alike letter is never a deploy.
Words of the comment quoted in an error are inline code (echo.code): none of them renders."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from service.commands.echo import code

CONFIRMABLE = ("leaked-password-protection",)
ENV_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
DEPLOYMENT_ID_RE = re.compile(r"^#?(\d{1,12})$")
# A commit of the pull request, full or abbreviated as git does (at least 7 hex digits).
SHA_RE = re.compile(r"^(?:[0-9a-f]{7,40}|[0-9a-f]{64})$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Command:
    name: str  # deploy | rollback | lock | unlock | confirm | wcid | status | cancel | help
    environment: str | None = None
    noop: bool = False
    force: bool = False
    reason: str | None = None  # /lock reason, or the --reason of a forced deploy
    deployment_id: int | None = None
    item: str | None = None  # what /confirm confirms
    sha: str | None = None  # /deploy <env> <sha>: the commit to deploy, pinned by name
    raw: str = field(default="", compare=False)


@dataclass(frozen=True)
class ParseError:
    """The comment addresses the bot but is not a valid command; `message` says how to fix."""

    message: str
    raw: str = ""


USAGE: dict[str, str] = {
    "deploy": "/deploy <environment> [<commit sha>] [--noop]",
    "rollback": "/rollback <environment> [<deployment id>]",
    "lock": "/lock <environment> [reason]",
    "unlock": "/unlock <environment>",
    "confirm": "/confirm <environment> leaked-password-protection",
    "wcid": "/wcid",
    "status": "/status",
    "cancel": "/cancel",
    "help": "/help",
}
DESCRIPTIONS: dict[str, str] = {
    "deploy": "deploy this pull request's head commit as it was when you commented, or the "
              "commit of the pull request you name (7+ hex digits); `--noop`: preflight and "
              "the plan only; `--force --reason \"why\"`: deploy outside the deploy window "
              "(recorded and announced)",
    "rollback": "undo the latest (or the given) deployment of an environment",
    "lock": "keep an environment for this pull request until /unlock",
    "unlock": "release your lock on an environment (a maintainer may release anyone's)",
    "confirm": "record that a checklist item nothing can check is done (recorded with your name)",
    "wcid": "what can I deploy: each environment's lock, queue, the deployment running now "
            "and the active release",
    "status": "this pull request's deployments and queued requests",
    "cancel": "withdraw your queued requests on this pull request",
    "help": "this list",
}


def first_line(body: str) -> str | None:
    """The first non-empty line, unless it opens a code block or a quote."""
    for line in _LINE_BREAK.split(body):  # Markdown's line endings: a lone CR ends one too
        stripped = line.strip()
        if not stripped:
            continue
        if line.startswith(("    ", "\t")) or stripped.startswith(("```", "~~~", ">", "`")):
            return None
        return stripped
    return None


def parse(body: str | None) -> Command | ParseError | None:
    """None when the comment is not addressed to the bot at all."""
    if not body:
        return None
    line = first_line(body)
    if line is None or not line.startswith("/") or len(line) < 2 or not line[1].isalpha():
        return None
    try:
        words = shlex.split(line[1:])
    except ValueError as exc:
        return ParseError(f"could not read the command ({exc}); check its quotes", line)
    name, args = words[0].lower(), words[1:]
    if name not in USAGE or not words[0].isascii():  # 'K' (Kelvin sign) lowers to 'k'
        return ParseError(f"unknown command {code('/' + words[0])}", line)
    if words[0] != line[1:].split()[0]:
        return ParseError(f"write `/{name}` plainly, without quotes or escapes", line)
    return _parse_args(name, args, line)


def _env(name: str, args: list[str], line: str) -> str | ParseError:
    if not args or args[0].startswith("-"):
        return ParseError(f"`/{name}` needs an environment: `{USAGE[name]}`", line)
    env = args[0].lower()
    if not args[0].isascii() or not ENV_RE.fullmatch(env):
        return ParseError(f"{code(args[0])} is not an environment name: `{USAGE[name]}`",
                          line)
    written = line[1:].split()
    if len(written) < 2 or written[1] != args[0]:
        return ParseError(f"write the environment plainly, without quotes or escapes: "
                          f"`{USAGE[name]}`", line)
    return env


def _parse_args(name: str, args: list[str], line: str) -> Command | ParseError:
    if name in ("wcid", "status", "cancel", "help"):
        if args:
            return ParseError(f"`/{name}` takes no arguments (got {code(' '.join(args))})",
                              line)
        return Command(name, raw=line)
    env = _env(name, args, line)
    if isinstance(env, ParseError):
        return env
    rest = args[1:]
    if name == "deploy":
        noop = force = False
        reason: str | None = None
        sha: str | None = None
        written = line[1:].split()
        i = 0
        while i < len(rest):
            word = rest[i].lower()
            if sha is None and rest[i].isascii() and SHA_RE.fullmatch(word):
                if rest[i] not in written:
                    return ParseError("write the commit plainly, without quotes or escapes: "
                                      f"`{USAGE['deploy']}`", line)
                sha = word
            elif word == "--noop":
                noop = True
            elif word == "--force":
                force = True
            elif word == "--reason" and i + 1 < len(rest) and rest[i + 1].strip():
                reason = rest[i + 1].strip()
                i += 1
            else:
                return ParseError(f"unexpected {code(rest[i])}: `{USAGE['deploy']}`", line)
            i += 1
        if force and not reason:
            return ParseError('`--force` needs `--reason "why"`, recorded and announced', line)
        if reason and not force:
            return ParseError("`--reason` goes with `--force`", line)
        if noop and force:
            return ParseError("`--noop` changes nothing, so it needs no `--force`", line)
        return Command("deploy", env, noop=noop, force=force, reason=reason, sha=sha, raw=line)
    if name == "rollback":
        if len(rest) > 1:
            return ParseError(f"unexpected {code(' '.join(rest[1:]))}: "
                              f"`{USAGE['rollback']}`", line)
        dep_id = None
        if rest:
            m = DEPLOYMENT_ID_RE.match(rest[0])
            if m is None:
                return ParseError(f"{code(rest[0])} is not a deployment id: "
                                  f"`{USAGE['rollback']}`", line)
            dep_id = int(m.group(1))
        return Command("rollback", env, deployment_id=dep_id, raw=line)
    if name == "lock":
        return Command("lock", env, reason=" ".join(rest).strip() or None, raw=line)
    if name == "confirm":
        if len(rest) != 1 or rest[0].lower() not in CONFIRMABLE:
            return ParseError(f"`/confirm` confirms one of: {', '.join(CONFIRMABLE)} — "
                              f"`{USAGE['confirm']}`", line)
        return Command("confirm", env, item=rest[0].lower(), raw=line)
    if rest:  # unlock
        return ParseError(f"unexpected {code(' '.join(rest))}: `{USAGE['unlock']}`", line)
    return Command("unlock", env, raw=line)


def help_text() -> str:
    rows = "\n".join(f"| `{USAGE[n]}` | {DESCRIPTIONS[n]} |" for n in USAGE)
    return "| command | what it does |\n|---|---|\n" + rows
