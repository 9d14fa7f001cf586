"""The settings a watch runs under, kept with it in the ledger.

A watch samples for an hour in jobs that may run on any worker; it keeps the environment's
configuration as it was when the deployment succeeded (the default branch's, as always), so
every sample judges by the same thresholds and no sample needs GitHub. Only names of
environment variables are kept, never their values."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from service.config.model import Config, EnvironmentConfig, Paths, WatchConfig


def to_json(env: EnvironmentConfig, paths: Paths) -> dict[str, Any]:
    return {"environment": asdict(env), "paths": asdict(paths)}


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """Keys the dataclass still has (a stored row may predate a field or outlive one)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def from_json(data: dict[str, Any]) -> tuple[EnvironmentConfig, Paths]:
    raw = _known(EnvironmentConfig, dict(data["environment"]))
    raw["watch"] = WatchConfig(**_known(WatchConfig, dict(raw.get("watch") or {})))
    raw["deploy_on_push"] = tuple(raw.get("deploy_on_push") or ())
    return EnvironmentConfig(**raw), Paths(**_known(Paths, dict(data.get("paths") or {})))


def as_config(env: EnvironmentConfig, paths: Paths) -> Config:
    """A configuration holding just this environment, for resolve() and accept()."""
    return Config(environments={env.name: env}, paths=paths, source="the watch's settings")
