"""Where a repository keeps its backend: the layout of the pinned commit's tree.

A repository laid out by the Supabase CLI (`supabase/migrations`, `supabase/functions`,
`supabase/tests`, …) deploys with only its environments configured: every path the
configuration does not set follows that layout. Any other tree keeps the defaults of
`Paths` (this repository's own top-level `migrations/` and `functions/`).
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

from service.config.model import SUPABASE_PATHS, Config, Paths

SUPABASE_DIR = "supabase"


def is_supabase_layout(root: Path) -> bool:
    return (root / SUPABASE_DIR).is_dir()


def paths_for_tree(paths: Paths, paths_set: frozenset[str], root: Path) -> Paths:
    """`paths` with every key not in `paths_set` taken from the tree's layout."""
    if not is_supabase_layout(root):
        return paths
    given = {f.name: getattr(paths, f.name) for f in fields(Paths) if f.name in paths_set}
    return replace(SUPABASE_PATHS, **given)


def for_tree(config: Config, root: Path) -> Config:
    """The configuration as it applies to the source tree at `root`."""
    resolved = paths_for_tree(config.paths, config.paths_set, root)
    return config if resolved == config.paths else replace(config, paths=resolved)
