"""deploybot finds its repository like git does: from a subfolder it uses the root and the
one data directory there; outside any repository it says so before starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.cli import main


@pytest.fixture
def repo(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DEPLOYBOT_DATA_DIR")  # the default: <root>/.deploybot
    return Path(env["repo"])


def test_a_subfolder_uses_the_repository_root_and_its_data_directory(
        repo: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(repo / "migrations")
    assert main(["deploy", "staging", "--dry-run"]) == 0
    assert "pending" in capsys.readouterr().out
    assert (repo / ".deploybot" / "checkouts").is_dir()
    assert not (repo / "migrations" / ".deploybot").exists()


def test_outside_a_repository_nothing_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DEPLOYBOT_DATA_DIR", raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for argv in (["status", "staging"], ["deploy", "staging"], ["history"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "not inside a git repository" in err, argv
    assert list(outside.iterdir()) == []  # no embedded servers, no data directory


def test_history_in_a_pipe_keeps_every_value_whole(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "staging", "--dry-run"]) == 0
    capsys.readouterr()
    # captured output is not a terminal: a pipe; a dry run is listed under its own kind
    assert main(["history", "--kind", "dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("\t")[:4] == ["id", "env", "kind", "commit"]
    assert out[1].split("\t")[2] == "dry-run"
    commit = out[1].split("\t")[3]
    assert len(commit) == 40 and "…" not in "".join(out)


def test_local_edits_that_do_not_deploy_are_named(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.fixture_repo import commit, git

    assert main(["deploy", "staging", "--dry-run"]) == 0
    clean = capsys.readouterr().out  # a clean clone: nothing to say about local edits
    assert "differs from the one on" not in clean and "uncommitted changes" not in clean
    git(repo, "checkout", "-q", "-b", "work")
    config = repo / ".github" / "deploybot.yml"
    config.write_text(config.read_text() + "# a local change\n")
    commit(repo, "config change on a branch")
    (repo / "migrations" / "20260301000000_new.sql").write_text("select 1;\n")
    assert main(["deploy", "staging", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "deploybot.yml in your working tree differs from the one on main" in out
    assert "uncommitted changes are not deployed (migrations/20260301000000_new.sql)" in out
