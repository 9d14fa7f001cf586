from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.config import ConfigError, load_config, parse_config
from service.config.window import DeployWindow, WindowError

REPO = Path(__file__).resolve().parents[2]


def test_repository_config_is_valid_and_follows_the_runbook() -> None:
    config = load_config(REPO)
    staging, production = config.environments["staging"], config.environments["production"]
    assert staging.database_url_env == "STAGING_DATABASE_URL"
    assert production.database_url_env == "PRODUCTION_DATABASE_URL"
    assert production.required_permission == "maintain" and production.approvals == 1
    assert staging.watch.latency_p95_ms == 2000 and staging.watch.error_rate == 0.01
    assert staging.watch.max_connections == 50 and staging.watch.window_seconds == 3600
    assert staging.watch.auto_rollback and not production.watch.auto_rollback


def test_missing_file_gives_the_default(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert set(config.environments) == {"staging", "production"}
    assert config.source == "built-in default"


def supabase_tree(root: Path) -> Path:
    for rel in ("supabase/migrations", "supabase/functions", "supabase/tests"):
        (root / rel).mkdir(parents=True)
    (root / "supabase" / "config.toml").write_text('project_id = "demo"\n')
    (root / "supabase" / "seed.sql").write_text("insert into t values (1);\n")
    return root


def test_a_supabase_tree_gets_the_cli_layout_without_configuration(tmp_path: Path) -> None:
    from service.config.layout import for_tree

    config = parse_config("environments:\n  staging: {database_url_env: STAGING_DB}\n")
    assert for_tree(config, tmp_path) == config  # no supabase/ folder: today's defaults
    assert config.paths.migrations == "migrations"
    paths = for_tree(config, supabase_tree(tmp_path)).paths
    assert (paths.migrations, paths.rollbacks, paths.functions, paths.tests) == (
        "supabase/migrations", "supabase/migrations/rollback", "supabase/functions",
        "supabase/tests")


def test_paths_set_in_the_file_win_over_the_layout(tmp_path: Path) -> None:
    from service.config.layout import for_tree

    root = supabase_tree(tmp_path)
    config = parse_config("paths:\n  migrations: db/migrations\n  rls_suite: db/rls.sql\n")
    assert config.paths_set == {"migrations", "tests"}
    paths = for_tree(config, root).paths
    assert (paths.migrations, paths.tests, paths.functions) == (
        "db/migrations", "db/rls.sql", "supabase/functions")
    # this repository keeps its top-level folders even beside a supabase/ folder
    repo = load_config(REPO)
    assert for_tree(repo, root).paths == repo.paths


def test_rls_suite_and_tests_together_is_one_clear_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("paths: {rls_suite: a.sql, tests: b}\n")
    assert info.value.problems == [
        "paths.rls_suite: is the older name of paths.tests; set only paths.tests"]


def test_rls_suite_is_still_readable_as_the_older_name_of_tests() -> None:
    config = parse_config("paths: {rls_suite: db/rls.sql}\n")
    assert config.paths.tests == config.paths.rls_suite == "db/rls.sql"


def test_squawk_is_warn_by_default_and_block_where_configured() -> None:
    config = parse_config("environments:\n  staging: {}\n  production:\n    squawk: block\n")
    assert config.environments["staging"].squawk == "warn"
    assert config.environments["production"].squawk == "block"
    with pytest.raises(ConfigError) as info:
        parse_config("environments:\n  staging: {squawk: loud}\n")
    assert info.value.problems == [
        "environments.staging.squawk: expected one of warn, block, off, got 'loud'"]


def test_every_bad_key_is_named_with_what_is_allowed() -> None:
    text = """
environments:
  staging:
    databse_url_env: X
    approvals: -1
    required_permission: god
    watch: {window: forever, error_rate: 2}
  Prod: {}
paths: {migrations: /etc}
surprise: 1
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    problems = "\n".join(info.value.problems)
    assert ("environments.staging.databse_url_env: unknown key; allowed: database_url_env"
            in problems)
    assert ("environments.staging.approvals: expected a whole number from 0 to 10, got -1"
            in problems)
    assert "required_permission: expected one of read, triage, write, maintain, admin" in problems
    assert "watch.window: expected a duration" in problems
    assert "watch.error_rate: expected a number from 0 to 1, got 2" in problems
    assert "environments.Prod: environment names are lower-case" in problems
    assert "paths.migrations: expected a relative path" in problems
    assert "surprise: unknown key" in problems
    assert str(info.value).startswith(".github/deploybot.yml: invalid configuration")


def test_a_key_yaml_reads_as_a_boolean_is_told_apart_from_the_same_word_quoted() -> None:
    # Found by the configuration fuzzer: 'False' (text) and false (a boolean) were both
    # named "False", two messages a reader could not tell apart.
    with pytest.raises(ConfigError) as info:
        parse_config("'False': null\nfalse: null\n1: x\n~: y\n")
    assert info.value.problems == [
        "False: unknown key; allowed: environments, paths, default_branch, allow_forks",
        "false (read as a boolean): unknown key; allowed: environments, paths, "
        "default_branch, allow_forks",
        "1 (read as a number): unknown key; allowed: environments, paths, default_branch, "
        "allow_forks",
        "null (read as empty): unknown key; allowed: environments, paths, default_branch, "
        "allow_forks",
    ]


@pytest.mark.parametrize("text", ["[", "a: [1, 2", "environments: 3", "- 1\n- 2", "\x00"])
def test_broken_yaml_is_a_config_error_not_a_traceback(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_config(text)


def test_requires_staging_must_name_an_environment() -> None:
    with pytest.raises(ConfigError, match="no environment named 'qa'"):
        parse_config("environments:\n  production: {requires_staging: qa}\n")


def test_deploy_window() -> None:
    w = DeployWindow.parse("Mon-Thu 09:00-16:00 America/Toronto")
    # 2026-11-25 is a Wednesday; 15:00 UTC is 10:00 in Toronto
    assert w.contains(datetime(2026, 11, 25, 15, 0, tzinfo=UTC))
    assert not w.contains(datetime(2026, 11, 25, 22, 0, tzinfo=UTC))  # 17:00 local
    assert not w.contains(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))  # Friday
    wrap = DeployWindow.parse("Fri-Mon 10:00-12:00 UTC")
    assert wrap.days == {4, 5, 6, 0}
    for bad in ("Mon-Thu", "Mon-Funday 09:00-16:00 UTC", "Mon 16:00-09:00 UTC",
                "Mon 09:00-16:00 Mars/Base"):
        with pytest.raises(WindowError):
            DeployWindow.parse(bad)


def test_reconnect_window_bounds_the_connection_attempts() -> None:
    from workers.drivers.database import attempts_within

    config = parse_config("environments:\n  staging:\n    reconnect_within: 2m\n")
    assert config.environments["staging"].reconnect_within == 120.0
    assert parse_config("environments: {staging: {}}").environments[
        "staging"].reconnect_within == 30.0
    with pytest.raises(ConfigError) as info:
        parse_config("environments:\n  staging:\n    reconnect_within: forever\n")
    assert "environments.staging.reconnect_within: expected a duration" in str(info.value)
    # waits 0.5, 1, 2, 4, then 5 s each: the attempts whose waits fit in the window
    assert [attempts_within(s) for s in (0.1, 3, 7.5, 30, 120)] == [1, 3, 5, 9, 27]


def test_a_hosted_supabase_project() -> None:
    config = parse_config("""
environments:
  staging:
    supabase_project_ref: abcdefghijklmnopqrst
    supabase_access_token_env: STAGING_SUPABASE_TOKEN
    enable_leaked_password_protection: true
""")
    staging = config.environments["staging"]
    assert staging.supabase_project_ref == "abcdefghijklmnopqrst"
    assert staging.supabase_access_token_env == "STAGING_SUPABASE_TOKEN"
    assert staging.enable_leaked_password_protection


def test_hosted_project_settings_are_checked() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("""
environments:
  staging:
    supabase_project_ref: https://abcdefghijklmnopqrst.supabase.co
    supabase_access_token_env: sbp_0123456789abcdef
  other:
    enable_leaked_password_protection: true
""")
    text = str(err.value)
    assert "environments.staging.supabase_project_ref: expected a project ref: the 20 " in text
    assert "environments.staging.supabase_access_token_env: this is an access token" in text
    assert "sbp_0123456789abcdef" not in text
    assert ("environments.other.enable_leaked_password_protection: only allowed for "
            "a hosted Supabase project") in text
