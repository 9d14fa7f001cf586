"""What the models add to tests/config/test_config.py: the file is read by its own names,
an empty key is unset, and code builds the same types by their field names."""

from __future__ import annotations

import dataclasses

import pytest

from service.config import ConfigError, WatchConfig, parse_config
from service.config.model import default_config


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.problems


def test_the_file_uses_its_own_names_and_code_the_fields() -> None:
    parsed = parse_config("environments:\n  canary:\n    watch: {window: 1m, interval: 5s}\n")
    assert parsed.environments["canary"].watch == WatchConfig(window_seconds=60,
                                                              interval_seconds=5)
    [window] = problems("environments:\n  canary:\n    watch: {window_seconds: 60}\n")
    assert window.startswith("environments.canary.watch.window_seconds: unknown key; "
                             "allowed: window, interval,")
    # what deploybot sets itself is not a key of the file
    [name] = problems("environments:\n  canary: {name: prod}\n")
    assert name.startswith("environments.canary.name: unknown key; allowed: database_url_env")
    assert problems("source: x\n")[0].startswith("source: unknown key")


def test_an_empty_key_is_unset() -> None:
    config = parse_config("environments:\n  staging:\n    approvals:\n    watch:\n"
                          "  canary:\npaths:\n")
    staging = config.environments["staging"]
    assert staging.approvals == 0 and staging.watch.auto_rollback  # staging's own default
    assert config.environments["canary"].database_url_env == "CANARY_DATABASE_URL"
    assert config.paths_set == frozenset()


def test_a_built_in_name_starts_from_the_built_in_environment() -> None:
    config = parse_config("environments:\n  staging: {}\n  production: {approvals: 2}\n")
    built_in = default_config().environments
    assert config.environments["staging"] == built_in["staging"]
    assert config.environments["production"] == dataclasses.replace(
        built_in["production"], approvals=2)


def test_a_bad_environment_name_is_the_only_message_about_it() -> None:
    assert problems("environments:\n  Prod: {approvals: x}\n  ~: {approvals: y}\n") == [
        "environments.Prod: environment names are lower-case letters, digits, - and _, "
        "starting with a letter",
        "environments.null (read as empty): environment names are lower-case letters, "
        "digits, - and _, starting with a letter",
    ]


def test_a_configuration_built_in_code_may_hold_one_environment() -> None:
    # the watch's stored settings: production alone, though it requires staging
    production = default_config().environments["production"]
    from workers.watch.stored_config import as_config

    assert as_config(production, default_config().paths).environments == {
        "production": production}
