"""How a local clone is named in the ledger and on the dashboard: owner/name only for a
hosted remote; a clone of a folder on disk is `local/<folder>`, which the dashboard never
links to GitHub."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from workers.source import hosted_owner_name, repo_identity


@pytest.mark.parametrize(("url", "expected"), [
    ("https://github.com/3d3d/backend.git", "3d3d/backend"),
    ("git@github.com:3d3d/backend.git", "3d3d/backend"),
    ("ssh://git@ghe.example:2222/team/api", "team/api"),
    ("https://github.com/3d3d/backend/", "3d3d/backend"),
    ("/srv/git/backend", None),
    ("file:///srv/git/backend", None),
    ("../backend", None),
])
def test_only_hosted_remotes_name_an_owner(url: str, expected: str | None) -> None:
    assert hosted_owner_name(url) == expected


def test_a_clone_of_a_folder_is_local(tmp_path: Path) -> None:
    origin = tmp_path / "work" / "main"
    origin.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(origin)], check=True)
    clone = tmp_path / "backend"
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "remote", "add", "origin", str(origin)],
                   check=True)
    assert repo_identity(clone) == "local/backend"
