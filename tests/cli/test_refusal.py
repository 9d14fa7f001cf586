"""`deploybot deploy production` refused by the pre-production checklist: its own exit code
(4, nothing ran), a message written for a terminal (plain text through a pipe, coloured on a
terminal, never GitHub's markdown) that says how many items do not hold, lists each once
with its fix, and names `--force --reason` first where only it gets past an item; the run
is recorded `refused`, not as a deployment."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.cli.test_supabase_project import dbs, notes, supabase_project  # noqa: F401
from workers.cli import EXIT_REFUSED, main

UNMET = ("Staging deployment successful", "Approved (1 approval", "Required status checks green",
         "Leaked password protection enabled")
MARKDOWN = ("**", "<br>", "↳", "- [ ]", "- [x]", "`")


def _one_line(text: str) -> str:
    return " ".join(text.split())  # the console wraps long lines


def _check_message(out: str) -> None:
    text = _one_line(out)
    assert "refused: 4 of 7 checklist items do not hold — nothing ran, nothing changed" in text
    for title in UNMET:
        assert text.count(title) == 1, title  # listed once
    for mark in MARKDOWN:
        assert mark not in out, mark
    # the way through from a terminal comes first, then each item's fix
    force = text.index('From a terminal, --force --reason "why" overrides 2 of them')
    assert force < text.index("✗ ")
    assert "the other 2 need the fix below" in text
    assert re.search(r"fix: Deploy it to staging first: deploybot deploy staging --ref "
                     r"[0-9a-f]{12}", text)
    assert "fix: Run deploybot confirm production leaked-password-protection --by NAME" in text
    assert "reason:" not in text  # no one item picked out as "the" reason


def test_a_refusal_exits_4_says_what_does_not_hold_and_is_not_a_deployment(
        dbs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(supabase_project(tmp_path / "repo"))
    assert main(["deploy", "production"]) == EXIT_REFUSED == 4
    out = capsys.readouterr().out
    _check_message(out)
    assert "\x1b[" not in out  # a pipe gets no colour codes
    assert "recorded as #1, not a deployment: deploybot history --kind refused" in out
    assert notes(dbs["production"]) is None  # nothing ran
    with psycopg.connect(dbs["bot"]) as conn:
        row = conn.execute("select status, record_kind, reason from ledger.deployments"
                           ).fetchone()
        log = conn.execute("select output from ledger.deployment_steps "
                           "where name = 'gates'").fetchone()
    assert row == ("refused", "refused", "4 of 7 checklist items do not hold")
    assert log is not None and "**" not in log[0] and log[0].count("✗ ") == 4
    assert main(["history"]) == 0
    assert "no deployments recorded yet; other runs are recorded: --kind all lists them" \
        in _one_line(capsys.readouterr().out)
    assert main(["history", "--kind", "refused"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:3] for line in listed[1:]] == [["1", "production", "refused"]]
    assert main(["status", "production", "--json"]) == 0  # the refusal deployed nothing
    assert json.loads(capsys.readouterr().out)["last_deployment"] is None


def test_on_a_terminal_the_refusal_is_coloured_text_not_markdown(
        dbs: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    repo = supabase_project(tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(TERM="xterm-256color", COLUMNS="100", LINES="40")
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "workers.cli", "deploy", "production"],
                            cwd=repo, env=env, stdin=follower, stdout=follower,
                            stderr=follower, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=120) == 4
    raw = b"".join(chunks).decode(errors="replace")
    assert "\x1b[" in raw  # colour on a terminal
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw).replace("\r", "")
    # before it, the live step list's frames (erased on the screen when the run ends)
    _check_message(shown[shown.index("refused:"):])


def test_a_forced_deployment_is_announced_in_plain_words_on_the_terminal(
        dbs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(supabase_project(tmp_path / "repo"))
    assert main(["deploy", "staging"]) == 0
    assert main(["confirm", "production", "leaked-password-protection", "--by", "lead"]) == 0
    capsys.readouterr()
    assert main(["deploy", "production", "--force", "--reason", "hotfix for checkout"]) == 0
    out = capsys.readouterr().out
    text = _one_line(out)
    assert "! Approved (1 approval, no changes requested): reviews cannot be read here" in text
    assert re.search(r"announced: deploying [0-9a-f]{7} to production now overridden with "
                     r"--force: Approved \(1 approval, no changes requested\), Required status "
                     r"checks green; reason: hotfix for checkout", text)
    for mark in MARKDOWN:
        assert mark not in out, mark
    assert notes(dbs["production"]) == []  # deployed
