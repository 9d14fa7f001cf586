"""What the bot says on pull requests. Every comment carries a hidden marker so the bot can
find (and edit) its own comments, and never mistakes one of them for a command.

Replies are templates here (bedevere style): a hidden marker first, then the text. A refusal
also carries a marker of its own (who was refused, and why), so the same refusal asked again
edits the earlier reply, counting the repeats, instead of adding another."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from service.commands import authorization
from service.commands.grammar import DESCRIPTIONS, USAGE, Command, help_text
from service.config.model import Config

BOT_MARKER = "<!-- deploybot -->"
DEPLOYMENT_MARKER = "<!-- deploybot:deployment:{request_id} -->"
REFUSAL_MARKER = "<!-- deploybot:refusal:{key} -->"
REPEATS_MARKER = "<!-- deploybot:repeats:{times} -->"
_REFUSAL_KEY = re.compile(r"<!-- deploybot:refusal:([0-9a-f]{16}) -->")
_REPEATS = re.compile(r"\n*<!-- deploybot:repeats:(\d+) -->.*\Z", re.S)

REFUSAL = "{bot}\n{marker}\n@{user} {problem}{fix}"
REPEATED = ("\n\n{marker}\n_Asked {times} times; answered the same each time (latest "
            "{at:%Y-%m-%d %H:%M} UTC)._")
PARSE_ERROR = "I could not run that: {message}.\n\n<details><summary>Commands</summary>\n\n" \
    + help_text() + "\n\n</details>"
NEEDS_PERMISSION = ("`/{command}` needs **{need}** permission on this repository{where}; "
                    "you have **{have}**.")
NEEDS_PERMISSION_FIX = "Ask a repository admin for access, or ask someone who has it."
UNKNOWN_ENVIRONMENT = "there is no environment `{name}`."
UNKNOWN_ENVIRONMENT_FIX = "Environments here: {names} (from `{source}`). Nothing was deployed."
QUEUED = ("@{user} `{environment}` is busy: your request is queued at position **{position}** "
          "({ahead}){now}. It starts by itself; `/cancel` withdraws it.")
CHECKLIST_REFUSAL = ("`{environment}` was not touched: {unmet} of {total} pre-production "
                     "checklist items do not hold.")
HELP = """\
**deploybot commands** — write one as the first line of a comment:

{table}

Permissions are your role on this repository, as GitHub reports it. Commenters below \
**read** get no answer at all."""


def deployment_marker(request_id: int) -> str:
    return DEPLOYMENT_MARKER.format(request_id=request_id)


def reply(text: str) -> str:
    return f"{BOT_MARKER}\n{text}"


def refusal_key(user: str, problem: str) -> str:
    """The same person refused for the same reason: one reply, edited."""
    return hashlib.sha256(f"{user.lower()}\n{problem}".encode()).hexdigest()[:16]


def refusal(user: str, problem: str, fix: str = "") -> str:
    return REFUSAL.format(bot=BOT_MARKER,
                          marker=REFUSAL_MARKER.format(key=refusal_key(user, problem)),
                          user=user, problem=problem, fix=f"\n\n{fix}" if fix else "")


def refusal_key_of(body: str) -> str | None:
    m = _REFUSAL_KEY.search(body)
    return m.group(1) if m else None


def times_of(body: str) -> int:
    """How many times a refusal reply was given (1 before it is repeated)."""
    m = _REPEATS.search(body)
    return int(m.group(1)) if m else 1


def repeated(body: str, times: int, at: datetime) -> str:
    """`body` (a refusal) as the reply to its `times`th asking."""
    return _REPEATS.sub("", body) + REPEATED.format(
        marker=REPEATS_MARKER.format(times=times), times=times, at=at)


def needs_permission(user: str, command: Command, need: str, have: str) -> str:
    where = f" for `{command.environment}`" if command.environment else ""
    return refusal(user, NEEDS_PERMISSION.format(command=command.name, need=need, where=where,
                                                 have=have), NEEDS_PERMISSION_FIX)


def unknown_environment(user: str, name: str, environments: list[str], source: str) -> str:
    return refusal(user, UNKNOWN_ENVIRONMENT.format(name=name), UNKNOWN_ENVIRONMENT_FIX.format(
        names=", ".join(f"`{e}`" for e in environments), source=source))


def queued(user: str, environment: str, position: int, running: str | None) -> str:
    ahead = f"{position - 1} request{'s' if position > 2 else ''} ahead"
    now = f" — now running: {running}" if running else ""
    return reply(QUEUED.format(user=user, environment=environment, position=position,
                               ahead=ahead, now=now))


def checklist_refusal(environment: str, unmet: int, total: int) -> str:
    return CHECKLIST_REFUSAL.format(environment=environment, unmet=unmet, total=total)


def _permissions(name: str, config: Config) -> str:
    """What `name` needs, worded from the authorization rule itself (one environment's
    need where it differs from the rest)."""
    if name not in ("deploy", "rollback", "lock", "unlock", "confirm"):
        need = authorization.required(Command(name), config)
        return f"**{need}**" + (" (your own requests)" if name == "cancel" else "")
    needs = {env: authorization.required(Command(name, env), config)
             for env in sorted(config.environments)}
    common = max(set(needs.values()), key=lambda n: (list(needs.values()).count(n), n),
                 default="write")
    parts = [f"**{common}**"] + [f"`{env}`: **{need}**" for env, need in needs.items()
                                 if need != common]
    if name == "deploy":
        forced = Command("deploy", next(iter(sorted(config.environments)), ""), force=True,
                         reason="why")
        parts.append(f"with `--force`: **{authorization.required(forced, config)}**")
    return "; ".join(parts)


def help_reply(config: Config) -> str:
    """/help: every command, what it does and the permission it needs here."""
    rows = "\n".join(f"| `{USAGE[n]}` | {DESCRIPTIONS[n]} | {_permissions(n, config)} |"
                     for n in USAGE)
    table = "| command | what it does | permission needed |\n|---|---|---|\n" + rows
    return reply(HELP.format(table=table))


# /wcid — what can I deploy: the environment's state, its queue, the deployment running now
# and the active release (what the environment runs), each in its own column.
WCID = """\
**What can I deploy?**

| environment | state | queue | deploying now | active release |
|---|---|---|---|---|
{rows}

_Active release: the latest deployment that left the environment running its commit._"""
WCID_ROW = "| `{environment}` | {state} | {queue} | {now} | {release} |"
WCID_FREE = "✅ free"
WCID_LOCKED = "🔒 locked by @{owner} (#{pr})"
WCID_BUSY = "⏳ busy"
WCID_RUNNING = "{kind} of `{sha}`{pr}{who}{since}"
WCID_RELEASE = "`{sha}`{pr} by {who}, {at:%Y-%m-%d %H:%M} UTC"
NOTHING = "—"

# /status: this pull request's requests and deployments, in words.
STATUS = """\
**Deployments of #{pr}**

{lines}"""
STATUS_NONE = "Nothing requested from this pull request yet."
STATUS_REQUEST = "- {kind} of `{sha}` to `{environment}`: {state}"
STATUS_DEPLOYMENT = "- #{id} {kind} of `{sha}` to `{environment}`: **{state}**{reason}{link}"
KINDS = {"deploy": "deployment", "rollback": "rollback", "dry_run": "dry run"}
REQUEST_STATES = {
    "queued": "waiting its turn (position {position})",
    "running": "running now",
    "done": "finished",
    "cancelled": "withdrawn",
    "superseded": "replaced by a newer request",
}
DEPLOYMENT_STATES = {
    "queued": "not started yet",
    "running": "running now",
    "succeeded": "deployed",
    "up_to_date": "already up to date: nothing to do",
    "planned": "dry run: nothing was changed",
    "failed": "failed before changing anything",
    "rolled_back": "failed and rolled back",
    "rollback_failed": "failed, and the rollback failed: a person is needed",
    "interrupted": "stopped before it ended",
}


def kind_words(kind: str) -> str:
    return KINDS.get(kind, kind.replace("_", " "))


def request_state(status: str, position: int = 0) -> str:
    return REQUEST_STATES.get(status, status.replace("_", " ")).format(position=position)


def deployment_state(status: str) -> str:
    return DEPLOYMENT_STATES.get(status, status.replace("_", " "))

# /deploy: which commit, and whether this pull request may deploy it at all.
STARTING_TITLE = "Starting: fetching {sha}"
STARTING_SUMMARY = ("A worker took this {kind}; it is fetching commit `{sha}` and the "
                    "repository's configuration. The steps follow here.")


def starting_output(kind: str, sha: str) -> dict[str, str]:
    """The check run's output from the moment a worker takes the request to its first step."""
    return {"title": STARTING_TITLE.format(sha=sha[:7]),
            "summary": STARTING_SUMMARY.format(kind=kind_words(kind), sha=sha[:7])}


NOT_STARTED_TITLE = "Not started: nothing ran, nothing changed"
NOT_STARTED_SUMMARY = "`{sha}` was not deployed: {why}.\n\nComment the command again to retry."
NOT_STARTED_FETCH = ("GitHub did not hand over the commit or the repository's configuration "
                     "({error}), even after retries")


def not_started_output(sha: str, why: str) -> dict[str, str]:
    return {"title": NOT_STARTED_TITLE,
            "summary": NOT_STARTED_SUMMARY.format(sha=sha[:7], why=why.rstrip("."))}


CANCELLED_TITLE = "Cancelled"
CANCELLED_SUMMARY = "Cancelled by @{user}."
SUPERSEDED_TITLE = "Replaced by a newer request"
SUPERSEDED_SUMMARY = ("A newer request{which} from the same pull request replaced this "
                      "queued one.")


def withdrawn_output(status: str, user: str | None, newer: int | None = None
                     ) -> dict[str, str]:
    """The check run's output for a request withdrawn before it ran."""
    if status == "superseded":
        return {"title": SUPERSEDED_TITLE, "summary": SUPERSEDED_SUMMARY.format(
            which=f" (#{newer})" if newer is not None else "")}
    return {"title": CANCELLED_TITLE,
            "summary": CANCELLED_SUMMARY.format(user=user) if user else "Cancelled."}


PIN_UNRESOLVED = "{problem} Nothing was deployed."
PIN_UNRESOLVED_FIX = ("Comment `/deploy {environment} <sha>` again with the full 40-character "
                      "SHA of a commit of #{pr} (`git rev-parse HEAD` on the branch).")
HEAD_MOVED = ("the head of #{pr} moved to `{head}` after your comment, so I deployed nothing: "
              "a push after `/deploy` is never deployed.")
HEAD_MOVED_FIX = ("Look at the new commits, then comment `/deploy {environment}` again to deploy "
                  "`{head}`, or `/deploy {environment} <sha>` to deploy a commit by name.")
HEAD_UNKNOWN = ("I cannot tell which commit was the head of #{pr} when you commented: it is "
                "`{head}` now, and I have no record of that push arriving before your comment "
                "(commit dates prove nothing), so I deployed nothing.")
HEAD_UNKNOWN_FIX = ("Comment `/deploy {environment}` again to deploy `{head}`, or "
                    "`/deploy {environment} <sha>` to deploy a commit by name.")
PULL_NOT_OPEN = "#{pr} is {state}: only open pull requests deploy from a comment."
PULL_NOT_OPEN_FIX = "Merged changes reach staging by themselves."
FORK = "this pull request comes from a fork, and forks may not deploy here."
FORK_FIX = ("A maintainer can push the branch to this repository, or set `allow_forks: true` "
            "in `.github/deploybot.yml` on the default branch.")
LOCKED_BY_OTHER = "`{environment}` is locked by @{owner} for #{pr}{reason}."
LOCKED_BY_OTHER_FIX = "Ask them to `/unlock {environment}` there, then comment again."

# /rollback
NO_SUCH_DEPLOYMENT = "there is no deployment #{deployment} of `{environment}` here."
NO_SUCH_DEPLOYMENT_FIX = ("`/status` lists this pull request's deployments; "
                          "`/rollback {environment}` undoes the latest.")
NOTHING_TO_UNDO = "`{environment}` has no successful deployment to undo."

# /lock, /unlock, /confirm, /cancel
LOCKED = ("🔒 `{environment}` is locked for #{pr} by @{user}{reason}. Other pull requests "
          "cannot deploy there until `/unlock {environment}`.")
LOCKED_ELSEWHERE = ("`{environment}` is already locked by @{owner} for #{pr} since "
                    "{since:%Y-%m-%d %H:%M} UTC{reason}.")
LOCKED_ELSEWHERE_FIX = "Ask them to `/unlock {environment}` there."
NOT_LOCKED = "`{environment}` is not locked."
NOT_YOUR_LOCK = ("`{environment}` is locked by @{owner} for #{pr}; only they (from that pull "
                 "request) or a maintainer can unlock it.")
UNLOCKED = "🔓 `{environment}` is unlocked."
CONFIRMED = "✅ Recorded: `{item}` confirmed for `{environment}` by @{user}.{note}"
CONFIRMED_HOSTED = (" `{environment}` is a Supabase project: this counts only while its plan "
                    "cannot enable the protection; the setting itself is read from Supabase.")
NOTHING_TO_CANCEL = "you have no queued request on this pull request."
NOTHING_TO_CANCEL_FIX = ("A running deployment is not cancelled: `/rollback <environment>` "
                         "undoes it.")
WITHDRAWN = "@{user} withdrawn: {listed}."
