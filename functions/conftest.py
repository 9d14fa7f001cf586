"""Collect the edge functions' unit tests.

Each function is a directory named like its URL (`calculate-quote/`) holding a
package (`__init__.py`) that the function host imports under a generated module
name. A hyphen is not valid in a module name, so:

- the function directories are collected as plain directories (pytest would
  otherwise try to import `__init__.py` as a top-level module, which breaks the
  package's relative imports), and
- each function package is importable in tests as `fn_<name with _>` —
  e.g. `from fn_calculate_quote.pricing import price_quote` — loaded the way the
  host loads it (spec_from_file_location + submodule_search_locations).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest

FUNCTIONS_DIR = Path(__file__).resolve().parent
PREFIX = "fn_"


def function_dirs() -> dict[str, Path]:
    """Module name → function directory, for every function package here."""
    return {
        PREFIX + path.name.replace("-", "_"): path
        for path in sorted(FUNCTIONS_DIR.iterdir())
        if (path / "__init__.py").is_file()
    }


class _FunctionFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if "." in fullname or not fullname.startswith(PREFIX):
            return None
        directory = function_dirs().get(fullname)
        if directory is None:
            return None
        return importlib.util.spec_from_file_location(
            fullname, directory / "__init__.py", submodule_search_locations=[str(directory)]
        )


if not any(isinstance(finder, _FunctionFinder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _FunctionFinder())


def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if path.parent == FUNCTIONS_DIR and (path / "__init__.py").is_file():
        return pytest.Dir.from_parent(parent, path=path)
    return None
