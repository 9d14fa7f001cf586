"""The smoke file's JSON Schema, made from the models, for editors (docs/smoke.schema.json).

Regenerate after changing the models:
    python -m workers.runbook.smoke_spec.schema > docs/smoke.schema.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from workers.runbook.smoke_spec.model import MISSING, SmokeSpec

SCHEMA_PATH = "docs/smoke.schema.json"
REGENERATE = f"python -m workers.runbook.smoke_spec.schema > {SCHEMA_PATH}"


class _Generate(GenerateJsonSchema):
    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        # MISSING (json: absent, not null) has no JSON form: such a key simply has no default.
        if schema.get("default") is MISSING:
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        out = super().dict_schema(schema)
        patterns = out.get("patternProperties")
        if isinstance(patterns, dict) and len(patterns) == 1:
            # A constrained key as one rule editors apply to every key (pydantic splits it
            # into patternProperties, which lets a key matching no pattern through).
            [(pattern, values)] = patterns.items()
            del out["patternProperties"]
            out["propertyNames"] = {"pattern": pattern, **out.get("propertyNames", {})}
            out["additionalProperties"] = values
        return out

    def generate(self, schema: core_schema.CoreSchema,
                 mode: Any = "validation") -> JsonSchemaValue:
        out = super().generate(schema, mode)
        return {"$schema": self.schema_dialect, **_for_editors(out)}


def _for_editors(value: Any) -> Any:
    """errorMessage as an editor shows it: `{input}` is the user's value only to us."""
    if isinstance(value, dict):
        return {k: (_editor_message(v) if k == "errorMessage" and isinstance(v, str)
                    else _for_editors(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_for_editors(v) for v in value]
    return value


def _editor_message(message: str) -> str:
    return message.replace(", not {input}", "").replace("{input}", "this value")


def smoke_schema() -> dict[str, Any]:
    return SmokeSpec.model_json_schema(schema_generator=_Generate)


def schema_text() -> str:
    return json.dumps(smoke_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
