"""Find the Deno binary: the one the `deno` package from PyPI ships (a dependency of
deploybot, so a plain `pip install` brings it and nothing downloads at run time)."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
from functools import cache
from pathlib import Path

from service.pgtools import ToolNotFound

FIX = "install it with `pip install deno` (a dependency of deploybot: reinstalling deploybot " \
      "brings it too)"


class DenoNotFound(ToolNotFound):
    """No usable Deno on this machine; the message names the fix."""


def deno_binary() -> Path:
    """The path of the Deno executable, or DenoNotFound saying how to get it."""
    try:
        module = importlib.import_module("deno")
    except ImportError:
        raise DenoNotFound(f"Deno is not installed: {FIX}") from None
    try:
        path = Path(module.find_deno_bin())
    except Exception as exc:
        raise DenoNotFound(f"the `deno` package has no usable binary ({exc}): "
                           "reinstall it with `pip install --force-reinstall deno`") from None
    if not path.is_file() or not os.access(path, os.X_OK):
        raise DenoNotFound("the `deno` package's binary is missing or not executable: "
                           "reinstall it with `pip install --force-reinstall deno`")
    return path


@cache
def deno_version(path: Path) -> str:
    """`deno 2.9.8`-style version line of the binary at `path` (empty when it will not say)."""
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                             timeout=20, check=False, env={"NO_COLOR": "1",
                                                           "DENO_NO_UPDATE_CHECK": "1"}).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    first = out.strip().splitlines()[0] if out.strip() else ""
    return first if re.match(r"^deno \d", first) else ""
