"""Run the Supabase stand-in on a loopback port in a background thread.

    with SupabaseStandIn.running(tmp_path) as supa:
        supa.url (Management API base and functions URL), supa.state, supa.add_project(...)
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

from tests.http_server import serve

from .app import build_app
from .runtime import DenoRuntime
from .state import Project, StandInState


class SupabaseStandIn:
    def __init__(self, root: Path, anon_key: str) -> None:
        self.state = StandInState(anon_key)
        self.runtime = DenoRuntime(root)
        self.url = ""

    def add_project(self, ref: str, *, token: str | None = None, plan: str = "pro") -> Project:
        return self.state.add_project(ref, token or "sbp_" + secrets.token_hex(20), plan=plan)

    @classmethod
    @contextlib.contextmanager
    def running(cls, root: Path, anon_key: str = "anon-key-for-tests"
                ) -> Iterator[SupabaseStandIn]:
        stand_in = cls(root, anon_key)
        try:
            with serve(build_app(stand_in.state, stand_in.runtime)) as url:
                stand_in.url = url
                yield stand_in
        finally:
            stand_in.runtime.stop()
