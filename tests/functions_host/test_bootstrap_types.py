"""The host's preload (bootstrap.ts) type-checks: every function runs behind it, and no
function's own `deno check` looks at it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from service.denotool import deno_binary
from workers.functions_host import deno_runtime

BOOTSTRAP = deno_runtime.__file__.rsplit("/", 1)[0] + "/bootstrap.ts"


def test_the_preload_type_checks(tmp_path: Path) -> None:
    env = {"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "DENO_NO_UPDATE_CHECK": "1",
           "DENO_DIR": str(tmp_path / "deno"), "HOME": str(tmp_path)}
    done = subprocess.run([deno_binary(), "check", "--quiet", BOOTSTRAP], capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
