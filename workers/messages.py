"""What the bot says on pull requests. Every comment carries a hidden marker so the bot can
find (and edit) its own comments, and never mistakes one of them for a command."""

from __future__ import annotations

from service.commands.grammar import help_text

BOT_MARKER = "<!-- deploybot -->"


def deployment_marker(request_id: int) -> str:
    return f"<!-- deploybot:deployment:{request_id} -->"


def reply(text: str) -> str:
    return f"{BOT_MARKER}\n{text}"


def refusal(user: str, problem: str, fix: str = "") -> str:
    return reply(f"@{user} {problem}" + (f"\n\n{fix}" if fix else ""))


HELP = reply("**deploybot commands** — write one as the first line of a comment:\n\n"
             + help_text())

PARSE_ERROR = "I could not run that: {message}.\n\n<details><summary>Commands</summary>\n\n" \
    + help_text() + "\n\n</details>"


def unknown_environment(user: str, name: str, environments: list[str], source: str) -> str:
    return refusal(user, f"there is no environment `{name}`.",
                   "Environments here: " + ", ".join(f"`{e}`" for e in environments)
                   + f" (from `{source}`). Nothing was deployed.")


def queued(user: str, environment: str, position: int, running: str | None) -> str:
    ahead = f"{position - 1} request{'s' if position > 2 else ''} ahead"
    now = f" — now running: {running}" if running else ""
    return reply(f"@{user} `{environment}` is busy: your request is queued at position "
                 f"**{position}** ({ahead}){now}. It starts by itself; `/cancel` withdraws it.")
