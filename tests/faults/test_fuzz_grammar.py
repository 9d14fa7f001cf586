"""Bad input in comments (issue 7, item 6): never a deployment without an exact valid
`/deploy <env>` first line from a permitted user.

The grammar is checked against an independent statement of "exact" (EXACT below) for any
text, noise, look-alike letters, zero-width characters, line endings, long lines, quotes and
fences; then a few random comments go through the real endpoint and worker."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from service.commands.grammar import USAGE, Command, ParseError, parse
from tests.app.bot import Bot, post_comment
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.faults.test_fuzz_webhooks import fuzz_bot, handled, nothing_deployed  # noqa: F401
from tests.github_server.server import GitHubTestServer

MANY = settings(max_examples=400, deadline=None, database=None)

# "Exact": the first non-empty line (Markdown line endings), not indented as code, is
# `/deploy`, blanks, an ASCII environment name, then nothing or blank-separated options.
EXACT = re.compile(r"/deploy[ \t]+([a-z][a-z0-9_-]{0,39})(?:[ \t][^\r\n]*)?", re.I | re.A)


def exact_deploy(body: str) -> str | None:
    """The environment an exact `/deploy` line names, else None."""
    for line in re.split(r"\r\n|\r|\n", body):
        if not line.strip():
            continue
        if line.startswith(("    ", "\t")):
            return None
        m = EXACT.fullmatch(line.strip())
        return m.group(1).lower() if m else None
    return None


def deploys(body: str) -> str | None:
    result = parse(body)
    return result.environment if isinstance(result, Command) and result.name == "deploy" else None


def assert_exact(body: str) -> None:
    env = deploys(body)
    if env is not None:
        assert exact_deploy(body) == env, (body, env)


# Characters that look like, or hide inside, a command.
LOOK_ALIKES = {
    "/": ["／", "∕", "⁄", "⧸", "╱"],
    "d": ["ԁ", "ⅾ", "𝐝", "ɗ"],
    "e": ["е", "ё", "ｅ", "ℯ", "ė"],
    "p": ["р", "ρ", "ｐ", "𝗉"],
    "l": ["ⅼ", "ӏ", "ℓ", "ｌ", "1", "I"],
    "o": ["о", "ο", "０", "ｏ", "ᴏ", "0"],
    "y": ["у", "ү", "ｙ", "ỿ"],
    "s": ["ѕ", "ｓ", "ꜱ", "ſ"],
    "t": ["т", "ｔ", "𝗍"],
    "a": ["а", "ɑ", "ａ", "α"],
    "g": ["ɡ", "ｇ", "ց"],
    "i": ["і", "ı", "ｉ", "ί", "ɪ"],
    "n": ["п", "ｎ", "ռ"],
    "k": ["\u212a", "κ", "к"],  # KELVIN SIGN lowers to an ASCII k
    " ": ["\u00a0", "\u2003", "\u3000", "\u2009", "\u205f", "\u180e"],
}
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u034f",
              "\u061c", "\u200e", "\u200f", "\u202e"]
LINE_ENDS = ["\n", "\r\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\x1e"]
VALID = ["/deploy staging", "/deploy production", "/DEPLOY Staging", "/deploy staging --noop",
         '/deploy production --force --reason "hotfix"', "/rollback production", "/lock staging",
         "/wcid", "/help", "/status", "/cancel", "/confirm staging leaked-password-protection"]

interesting = st.sampled_from(
    [*"/deploystagingDEPLOY\"'`\\>~-#*_ \t", *LINE_ENDS, *ZERO_WIDTH,
     *(c for cs in LOOK_ALIKES.values() for c in cs), "```", "~~~", "    ", "--noop",
     "--force", "--reason", "staging", "production", "/deploy", "/deploy "])
texts = st.lists(interesting | st.characters(), max_size=40).map("".join)


@MANY
@given(body=st.text(max_size=300))
def test_any_text_is_a_deploy_only_when_it_is_exact(body: str) -> None:
    assert_exact(body)


@MANY
@given(body=texts)
def test_text_made_of_command_like_pieces(body: str) -> None:
    assert_exact(body)


@MANY
@given(before=texts, command=st.sampled_from(VALID), after=texts)
def test_noise_around_a_command(before: str, command: str, after: str) -> None:
    body = before + command + after
    assert_exact(body)
    if not before.strip() and before.count("\n") == before.count("\r") == 0 and (
            not after or after[0] in "\r\n"):
        expected = exact_deploy(body)  # plain blanks before, a line break after: still valid
        assert deploys(body) == expected


@MANY
@given(command=st.sampled_from(["/deploy staging", "/deploy production --noop",
                                "/lock staging", "/rollback production"]), data=st.data())
def test_look_alike_letters_are_never_a_command(command: str, data: st.DataObject) -> None:
    positions = [i for i, c in enumerate(command) if c.lower() in LOOK_ALIKES]
    chosen = data.draw(st.sets(st.sampled_from(positions), min_size=1, max_size=4))
    chars = list(command)
    for i in chosen:
        chars[i] = data.draw(st.sampled_from(LOOK_ALIKES[chars[i].lower()]))
    body = "".join(chars)
    result = parse(body)
    assert result != parse(command), body  # never the command it imitates
    if isinstance(result, Command):  # `producti0n`: a name of its own, which no config has
        assert body.isascii(), (body, result)
    assert_exact(body)


@MANY
@given(command=st.sampled_from(["/deploy staging", "/deploy production"]), data=st.data())
def test_zero_width_characters_inside_the_command_line(command: str,
                                                       data: st.DataObject) -> None:
    chosen = data.draw(st.lists(st.integers(0, len(command)), min_size=1, max_size=3))
    chars = list(command)
    for i in sorted(chosen, reverse=True):
        chars.insert(i, data.draw(st.sampled_from(ZERO_WIDTH)))
    body = "".join(chars) + data.draw(st.sampled_from(["", "\nthanks", "\r\n"]))
    assert deploys(body) is None, repr(body)


@MANY
@given(end=st.sampled_from(LINE_ENDS), before=st.sampled_from(["LGTM", "x", "`", ">"]),
       command=st.sampled_from(["/deploy staging", "/deploy production --noop"]))
def test_line_endings(end: str, before: str, command: str) -> None:
    assert deploys(before + end + command) is None  # only the first line counts
    word, env = command.split(" ", 1)
    split = word + end + env  # `/deploy` on one line, the environment on the next
    assert deploys(split) is None, repr(split)
    assert deploys(command + end + "and more") in (None, command.split()[1])
    assert_exact(command + end + "and more")


@settings(max_examples=60, deadline=None, database=None)
@given(n=st.integers(1, 200_000), filler=st.sampled_from([" ", "a", "'", "\"", "`", "-",
                                                          "--noop ", "\u200b", "staging "]),
       where=st.sampled_from(["env", "after", "before", "name"]))
def test_very_long_lines(n: int, filler: str, where: str) -> None:
    body = {"env": f"/deploy {filler * n}", "after": f"/deploy staging {filler * n}",
            "before": f"{filler * n}/deploy staging", "name": f"/deploy{filler * n} staging"
            }[where]
    assert_exact(body)
    result = parse(body)
    assert result is None or isinstance(result, ParseError | Command)


WRAPPED = [
    '/deploy "staging"', "/deploy 'staging'", "/deploy sta'g'ing", '/de"ploy" staging',
    "/deploy stag\\ing", "/\\deploy staging", "/deploy `staging`", "`/deploy staging`",
    "``/deploy staging``", "```\n/deploy staging\n```", "~~~\n/deploy staging\n~~~",
    "```sh\n/deploy staging", "> /deploy staging", ">/deploy staging", "    /deploy staging",
    "\t/deploy staging", "/deploy staging`", "/deploy \"staging\" --noop", "/deploy ''staging",
    "/deploy staging''", '/"deploy" staging', "/deploy \\staging", "/deploy\\ staging",
    "/deploy\rstaging", "/deploy\u00a0staging", "/deploy\u3000staging", "*/deploy staging*",
    "**/deploy staging**", "<!-- -->/deploy staging", "/deploy st\u0430ging",
    "/\u212aock staging", "/deploy \u212aube", "/deploy staging\u200b", "\u200b/deploy staging",
]


def test_quotes_backticks_fences_and_escapes_are_never_a_deploy() -> None:
    for body in WRAPPED:
        result = parse(body)
        assert not (isinstance(result, Command) and result.name in ("deploy", "lock")), (
            body, result)
        assert_exact(body)


def test_the_plain_commands_still_parse() -> None:
    for line in VALID:
        result = parse(line)
        assert isinstance(result, Command) and result.name in USAGE, (line, result)
    assert deploys("/deploy staging\r\nthanks") == "staging"
    assert deploys("/deploy staging\rthanks") == "staging"
    assert deploys("\u00a0/deploy staging") == "staging"  # blanks around the line are blanks
    forced = parse('/deploy production --force --reason "a \\"quoted\\" reason"')
    assert isinstance(forced, Command) and forced.reason == 'a "quoted" reason'


# --- through the endpoint and the worker --------------------------------------------------

comments = st.one_of(
    st.sampled_from(VALID),
    st.tuples(texts, st.sampled_from(VALID), texts).map("".join),
    st.text(max_size=60),
)
E2E = settings(max_examples=12, deadline=None, database=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture,
                                      HealthCheck.too_slow, HealthCheck.filter_too_much])


@E2E
@given(body=comments)
async def test_comments_from_a_reader_never_deploy(
        fuzz_bot: tuple[Bot, str], github_server: GitHubTestServer,  # noqa: F811
        body: str) -> None:
    bot, db = fuzz_bot  # rita has `read`: she may ask, never change anything
    assume(body.strip())
    row = await handled(bot, db, "issue_comment", post_comment(github_server, body, pr=7,
                                                                user="rita"))
    assert row["status"] == "processed" and row["attempts"] == 1, row
    expected = parse(body)
    if isinstance(expected, Command) and expected.name not in ("wcid", "status", "cancel",
                                                                "help"):
        assert row["result"].startswith("refused: rita has read"), row
    nothing_deployed(github_server, db)


@E2E
@given(body=comments)
async def test_non_commands_from_a_writer_never_deploy(
        fuzz_bot: tuple[Bot, str], github_server: GitHubTestServer,  # noqa: F811
        body: str) -> None:
    bot, db = fuzz_bot  # alice has `write`: a real /deploy staging of hers would deploy
    result = parse(body)
    assume(not isinstance(result, Command))
    row: dict[str, Any] = await handled(bot, db, "issue_comment",
                                        post_comment(github_server, body, pr=7))
    assert row["status"] == "processed" and row["attempts"] == 1, row
    assert row["result"] == "no command" or row["result"].startswith("not a valid command"), row
    nothing_deployed(github_server, db)
