"""What a deploy from a local clone does not take, said before it runs.

The configuration comes from the default branch and the code from a commit (DESIGN.md,
Trust), never from the working tree: a person who edited either locally must hear that
their edit is not what deploys."""

from __future__ import annotations

import subprocess
from pathlib import Path

from service.config import CONFIG_PATH, Config
from service.config.layout import for_tree


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=False)


def local_warnings(repo: Path, config: Config, branch: str, commit: str) -> list[str]:
    """Warnings about local edits the deployment of `commit` (config from `branch`) ignores."""
    warnings: list[str] = []
    used = _git(repo, "show", f"{branch}:{CONFIG_PATH}")
    used_text = used.stdout if used.returncode == 0 else None
    local = repo / CONFIG_PATH
    local_text = local.read_text(errors="replace") if local.is_file() else None
    if local_text != used_text:
        warnings.append(
            f"{CONFIG_PATH} in your working tree differs from the one on {branch}, which is "
            f"the one used (configuration is read from the default branch only); merge your "
            f"change into {branch} for it to apply")
    paths = for_tree(config, repo).paths  # the folders this repository's layout uses
    watched = sorted({p for p in (paths.migrations, paths.rollbacks, paths.functions,
                                  paths.tests, paths.smoke) if p})
    changed = _git(repo, "status", "--porcelain", "--untracked-files=all", "--", *watched)
    files = [line[3:] for line in changed.stdout.splitlines() if line.strip()]
    if files:
        shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        warnings.append(f"uncommitted changes are not deployed ({shown}): deploybot deploys "
                        f"commit {commit[:12]}; commit them first")
    return warnings
