"""A git repository holding this project's backend, for tests that deploy it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BACKEND = ["migrations", "functions", "tests/backend/rls_suite.sql", "tests/backend/smoke.yml"]

CONFIG = """\
default_branch: main
environments:
  staging:
    database_url_env: STAGING_DATABASE_URL
    anon_key_env: STAGING_ANON_KEY
    deploy_on_push: [main]
  production:
    production: true
    database_url_env: PRODUCTION_DATABASE_URL
    anon_key_env: PRODUCTION_ANON_KEY
    requires_staging: staging
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def make_repo(dest: Path, config: str = CONFIG) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for rel in BACKEND:
        src = REPO / rel
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns(
                "__pycache__", ".hypothesis", ".pytest_cache"))
        else:
            shutil.copy2(src, target)
    (dest / ".github").mkdir(exist_ok=True)
    (dest / ".github" / "deploybot.yml").write_text(config)
    subprocess.run(["git", "init", "-q", "-b", "main", str(dest)], check=True)
    git(dest, "config", "user.email", "dev@example.com")
    git(dest, "config", "user.name", "Dev")
    commit(dest, "backend")
    return dest


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def branch_with(repo: Path, name: str, files: dict[str, str], *, base: str = "main") -> str:
    """A branch off `base` with `files` written (relative path → content); returns its sha."""
    git(repo, "checkout", "-q", "-B", name, base)
    for rel, text in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    sha = commit(repo, f"change on {name}")
    git(repo, "checkout", "-q", "main")
    return sha


def cli_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, bot: str,
                staging: str) -> Path:
    """The fixture repository as the working directory of `deploybot` CLI commands, with
    the bot's database, staging and the data directory set in the environment."""
    monkeypatch.setenv("DATABASE_URL", bot)
    monkeypatch.setenv("STAGING_DATABASE_URL", staging)
    monkeypatch.setenv("STAGING_ANON_KEY", "anon-key-for-tests")
    monkeypatch.setenv("DEPLOYBOT_DATA_DIR", str(tmp_path / "data"))
    repo = make_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    return repo
