"""What the stand-in knows: projects, their functions' deployed versions, auth settings, and
every request it received (accepted or rejected)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Version:
    version: int
    metadata: dict[str, Any]
    files: dict[str, bytes]  # path as uploaded -> content
    created_at: int  # ms, as the API reports it


@dataclass
class Function:
    slug: str
    id: str
    versions: list[Version] = field(default_factory=list)
    deleted: bool = False

    @property
    def active(self) -> Version:
        return self.versions[-1]

    def answer(self) -> dict[str, Any]:
        v = self.active
        data: dict[str, Any] = {
            "id": self.id, "slug": self.slug, "name": v.metadata.get("name", self.slug),
            "status": "ACTIVE", "version": v.version, "created_at": self.versions[0].created_at,
            "updated_at": v.created_at, "verify_jwt": bool(v.metadata.get("verify_jwt", True)),
            "import_map": bool(v.metadata.get("import_map_path")),
            "entrypoint_path": v.metadata["entrypoint_path"],
        }
        if v.metadata.get("import_map_path"):
            data["import_map_path"] = v.metadata["import_map_path"]
        return data


@dataclass
class Project:
    ref: str
    token: str
    plan: str = "pro"  # "free": auth features of Pro plans answer 402
    functions: dict[str, Function] = field(default_factory=dict)
    auth: dict[str, Any] = field(default_factory=lambda: {
        "password_hibp_enabled": False, "site_url": "http://localhost:3000",
        "disable_signup": False, "jwt_exp": 3600})


@dataclass
class RequestRecord:
    method: str
    path: str
    operation: str | None
    status: int
    problems: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """Answer the next `times` API requests (those whose path and query hold `match`) with
    `status` (and `headers`)."""

    status: int
    times: int = 1
    match: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=lambda: {"message": "injected"})


class StandInState:
    def __init__(self, anon_key: str) -> None:
        self.anon_key = anon_key
        self.projects: dict[str, Project] = {}
        self.requests: list[RequestRecord] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self._ids = 0

    def add_project(self, ref: str, token: str, *, plan: str = "pro") -> Project:
        project = Project(ref, token, plan)
        self.projects[ref] = project
        return project

    def new_id(self) -> str:
        self._ids += 1
        return f"00000000-0000-4000-8000-{self._ids:012d}"

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)

    @property
    def rejected(self) -> list[RequestRecord]:
        return [r for r in self.requests if r.problems]

    def take_fault(self, target: str) -> Fault | None:
        with self.lock:
            fault = next((f for f in self.faults if f.match in target), None)
            if fault is None:
                return None
            fault.times -= 1
            if fault.times <= 0:
                self.faults.remove(fault)
            return fault
