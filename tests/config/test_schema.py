"""docs/deploybot.schema.json: generated from the models, and saying what they say."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.config import ConfigError, parse_config
from service.config.schema import REGENERATE, SCHEMA_FILE, schema, text
from workers.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_schema_is_the_models() -> None:
    committed = (REPO / SCHEMA_FILE).read_text()
    assert committed == text(), (
        f"{SCHEMA_FILE} differs from the models in service/config/model.py; regenerate it "
        f"(from the repository's root): {REGENERATE}")


def test_the_cli_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == schema()


def test_the_schema_names_the_keys_as_the_file_writes_them() -> None:
    found = schema()
    environment = found["$defs"]["EnvironmentConfig"]["properties"]
    assert "name" not in environment and "database_url_env" in environment
    assert set(found["$defs"]["WatchConfig"]["properties"]) >= {"window", "interval"}
    assert set(found["properties"]) == {"environments", "paths", "default_branch",
                                        "allow_forks"}
    assert environment["approvals"]["maximum"] == 10
    assert "required" not in found["$defs"]["EnvironmentConfig"]  # every key has a default


GOOD = [
    (REPO / ".github" / "deploybot.yml").read_text(),
    "environments:\n  canary:\n    deploy_on_push: main\n    watch: {window: 30m}\n",
    "paths: {migrations: db/migrations}\n",
]
BAD = [
    "environments:\n  staging: {approvals: 11}\n",
    "environments:\n  staging: {squawk: loud}\n",
    "environments:\n  Prod: {}\n",
    "environments:\n  staging: {watch: {window: forever}}\n",
    "environments:\n  staging: {databse_url_env: X}\n",
    "paths: {migrations: /etc}\n",
    "surprise: 1\n",
]


@pytest.mark.parametrize("doc", GOOD + BAD)
def test_an_editor_and_deploybot_agree(doc: str) -> None:
    # jsonschema_rs comes with schemathesis (the test extra)
    jsonschema_rs: Any = pytest.importorskip("jsonschema_rs")
    by_schema = jsonschema_rs.validator_for(schema()).is_valid(yaml.safe_load(doc))
    try:
        parse_config(doc)
        by_models = True
    except ConfigError:
        by_models = False
    assert by_schema == by_models == (doc in GOOD)
