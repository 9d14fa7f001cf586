"""The post-deploy watch of a hosted project probes its functions at the functions URL (the
stand-in serving what was deployed) and reads no deploybot host figures there."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.config.load import load_config
from service.settings import Settings
from tests.supabase_api.server import SupabaseStandIn
from workers.cli import main
from workers.environments import resolve
from workers.watch.probe import load_probe
from workers.watch.sampler import take_sample


async def test_the_watch_probes_the_hosted_functions(
        hosted: dict[str, Any], supabase: SupabaseStandIn,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert await asyncio.to_thread(main, ["deploy", "staging"]) == 0, capsys.readouterr().out
    repo = Path(hosted["repo"])
    probe, _ = load_probe(repo, "supabase/smoke.yml")
    assert probe is not None
    env = resolve(load_config(repo), "staging", Settings.from_env())
    before = len(supabase.state.requests)
    try:
        async with httpx.AsyncClient() as client:
            taken = await take_sample(env, probe, 30.0, client)
    finally:
        assert env.close is not None
        await env.close()
    assert taken.probe is not None and taken.probe.status == 200, taken
    assert taken.source == "probe" and taken.figures.errors == 0
    assert not any("host metrics" in n for n in taken.notes), taken.notes
    assert len(supabase.state.requests) == before  # the probe is no Management API call
