"""The JSON Schema of `.github/deploybot.yml`, generated from the models, for editors.

docs/deploybot.schema.json is this module's output, committed so that an editor can point
at it (`# yaml-language-server: $schema=…`); tests/config/test_schema.py fails when the
models change without it. Print it with `deploybot config schema` or
`python -m service.config.schema`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import TypeAdapter

from service.config.model import Config

SCHEMA_FILE = "docs/deploybot.schema.json"
REGENERATE = f"python -m service.config.schema > {SCHEMA_FILE}"


def schema() -> dict[str, Any]:
    """What a file may hold: validation mode, so keys are as the file writes them."""
    body = TypeAdapter(Config).json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **body,
        "title": "deploybot configuration (.github/deploybot.yml)",
    }


def text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(text())
