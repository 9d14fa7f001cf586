"""The stand-in Management API accepts only requests that match Supabase's OpenAPI document
(as described in workers/drivers/supabase_management_api.yml), and the description itself
holds what deploybot relies on."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.supabase_api.server import SupabaseStandIn
from workers.drivers import supabase_openapi as oas

REF = "abcdefghijklmnopqrst"


@pytest.fixture
def api(supabase: SupabaseStandIn) -> tuple[SupabaseStandIn, dict[str, str]]:
    project = supabase.add_project(REF)
    return supabase, {"Authorization": f"Bearer {project.token}"}


def deploy(supabase: SupabaseStandIn, headers: dict[str, str], metadata: object,
           *, slug: str = "hello", ref: str = REF, part: str = "file",
           extra: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{supabase.url}/v1/projects/{ref}/functions/deploy",
                      params={"slug": slug, **(extra or {})}, headers=headers,
                      data={"metadata": json.dumps(metadata)},
                      files=[(part, ("hello/index.ts", b"Deno.serve(() => new Response());"))])


GOOD = {"name": "hello", "entrypoint_path": "hello/index.ts", "verify_jwt": False}


def test_a_valid_deploy_is_accepted(api: tuple[SupabaseStandIn, dict[str, str]]) -> None:
    supabase, headers = api
    r = deploy(supabase, headers, GOOD)
    assert r.status_code == 201, r.text
    assert oas.validate(oas.operation("POST", "/v1/projects/{ref}/functions/deploy")
                        .response_schema(201) or {}, r.json()) == []
    assert supabase.state.rejected == []


@pytest.mark.parametrize(("case", "call", "problem"), [
    ("metadata without entrypoint_path",
     lambda s, h: deploy(s, h, {"name": "hello"}), "metadata.entrypoint_path: required"),
    ("a misspelt metadata key",
     lambda s, h: deploy(s, h, {**GOOD, "verifyJwt": False}), "verifyJwt: not in the document"),
    ("verify_jwt as a string",
     lambda s, h: deploy(s, h, {**GOOD, "verify_jwt": "false"}), "expected boolean"),
    ("a part the document does not name",
     lambda s, h: deploy(s, h, GOOD, part="files"), "part 'files': not in the document"),
    ("a slug the document's pattern refuses",
     lambda s, h: deploy(s, h, GOOD, slug="1hello"), "query slug"),
    ("an unknown query parameter",
     lambda s, h: deploy(s, h, GOOD, extra={"verify_jwt": "false"}),
     "query verify_jwt: not a parameter"),
    ("a project ref that is not 20 lower-case letters",
     lambda s, h: deploy(s, h, GOOD, ref="ABCDEFGHIJKLMNOPQRST"), "path ref"),
    ("no bearer token",
     lambda s, h: deploy(s, {}, GOOD), "requires a bearer token"),
    ("the auth config patched with a misspelt key",
     lambda s, h: httpx.patch(f"{s.url}/v1/projects/{REF}/config/auth", headers=h,
                              json={"password_hibp_enable": True}),
     "password_hibp_enable: not in the document"),
    ("the auth config patched as a form",
     lambda s, h: httpx.patch(f"{s.url}/v1/projects/{REF}/config/auth", headers=h,
                              data={"password_hibp_enabled": "true"}),
     "content-type application/x-www-form-urlencoded"),
    ("an operation the document does not have",
     lambda s, h: httpx.post(f"{s.url}/v1/projects/{REF}/functions/hello/rollback",
                             headers=h), "not an operation of the document"),
])
def test_a_request_off_the_document_is_rejected(
        api: tuple[SupabaseStandIn, dict[str, str]], case: str, call: object,
        problem: str) -> None:
    supabase, headers = api
    r = call(supabase, headers)  # type: ignore[operator]
    assert r.status_code == 400, (case, r.text)
    assert "does not match Supabase's OpenAPI document" in r.json()["message"]
    [rejected] = supabase.state.rejected
    assert any(problem in p for p in rejected.problems), (case, rejected.problems)
    assert supabase.state.projects[REF].functions == {}


def test_the_description_holds_what_deploybot_relies_on() -> None:
    body = oas.operation("POST", "/v1/projects/{ref}/functions/deploy").request_schema(
        "multipart/form-data")
    assert body is not None
    meta = body["properties"]["metadata"]
    assert set(meta["properties"]) >= {"name", "entrypoint_path", "import_map_path",
                                       "verify_jwt"}
    assert meta["required"] == ["entrypoint_path"]
    found = oas.find("GET", f"/v1/projects/{REF}/functions/hello")
    assert found is not None and found[1] == {"ref": REF, "function_slug": "hello"}
    auth = oas.operation("GET", "/v1/projects/{ref}/config/auth").response_schema(200)
    assert auth is not None and "password_hibp_enabled" in auth["properties"]
