"""The stand-in's routes: the Management API operations deploybot uses, each request first
checked against the OpenAPI description (400 and recorded when it does not match), and a
project's functions URL (`/functions/v1/<slug>`) serving the active version with Deno."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workers.drivers import supabase_openapi as oas

from .runtime import DenoRuntime
from .state import Function, RequestRecord, StandInState, Version
from .validation import Checked, check


def _answer(checked: Checked, status: int, body: Any = None) -> Response:
    """An answer, itself checked against the document: the stand-in must not teach the
    client shapes Supabase never sends."""
    assert checked.operation is not None
    schema = checked.operation.response_schema(status)
    if schema is not None:
        problems = oas.validate(schema, body, "answer")
        assert not problems, problems
    assert checked.operation.documents(status) or status in (400, 404), status
    return JSONResponse(body, status) if body is not None else Response(status_code=status)


def build_app(state: StandInState, runtime: DenoRuntime) -> Starlette:
    async def api(request: Request) -> Response:
        if not request.url.path.startswith("/v1/"):
            # The project's own domain (the functions URL shares this server): not the API.
            return JSONResponse({"message": "not found"}, 404)
        checked = await check(request)
        record = RequestRecord(request.method, request.url.path,
                               checked.operation.operation_id if checked.operation else None,
                               0, checked.problems, dict(request.headers))
        state.requests.append(record)
        if checked.problems:
            record.status = 400
            return JSONResponse({"message": "request does not match Supabase's OpenAPI "
                                 "document: " + "; ".join(checked.problems)}, 400)
        response = await _handle(state, runtime, request, checked)
        record.status = response.status_code
        return response

    async def functions(request: Request) -> Response:
        return await _serve_function(state, runtime, request)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
    return Starlette(routes=[
        Route("/functions/v1/{slug}", functions, methods=methods),
        Route("/functions/v1/{slug}/{rest:path}", functions, methods=methods),
        Route("/{path:path}", api, methods=methods),
    ])


async def _handle(state: StandInState, runtime: DenoRuntime, request: Request,
                  checked: Checked) -> Response:
    assert checked.operation is not None
    op = checked.operation.operation_id
    project = state.projects.get(checked.path_params["ref"])
    token = request.headers["authorization"][7:].strip()
    if project is None:
        if any(p.token == token for p in state.projects.values()):
            return JSONResponse({"message": "Project not found"}, 404)
        return JSONResponse({"message": "Unauthorized"}, 401)
    if token != project.token:
        return JSONResponse({"message": "Unauthorized"}, 401)
    fault = state.take_fault(f"{request.url.path}?{request.url.query}")
    if fault is not None:
        return JSONResponse(fault.body, fault.status, headers=fault.headers)
    slug = checked.path_params.get("function_slug")
    if op == "v1-deploy-a-function":
        meta: dict[str, Any] = checked.body["metadata"]
        slug = checked.query.get("slug") or meta.get("name")
        if not slug:
            return JSONResponse({"message": "slug is required"}, 400)
        missing = [p for p in (meta["entrypoint_path"], meta.get("import_map_path"))
                   if p and p not in checked.files]
        if missing:  # server-side bundling starts from the uploaded files
            return JSONResponse({"message": f"Failed to bundle the function: {missing[0]} "
                                 "was not uploaded"}, 400)
        fn = project.functions.get(slug)
        if fn is None or fn.deleted:
            fn = Function(slug, state.new_id())
            project.functions[slug] = fn
        number = fn.versions[-1].version + 1 if fn.versions else 1
        fn.versions.append(Version(number, dict(meta), dict(checked.files), state.now_ms()))
        return _answer(checked, 201, {k: v for k, v in fn.answer().items()
                                      if k not in ("created_at", "updated_at")})
    if op in ("v1-get-a-function", "v1-delete-a-function"):
        fn = project.functions.get(str(slug))
        if fn is None or fn.deleted:
            return JSONResponse({"message": "Function not found"}, 404)
        if op == "v1-delete-a-function":
            fn.deleted = True
            await asyncio.to_thread(runtime.stop, project.ref, fn.slug)
            return _answer(checked, 200)
        return _answer(checked, 200, fn.answer())
    if op == "v1-get-auth-service-config":
        return _answer(checked, 200, project.auth)
    if op == "v1-update-auth-service-config":
        if checked.body.get("password_hibp_enabled") and project.plan == "free":
            return JSONResponse({"message": "Configuring leaked password protection is only "
                                 "available on Pro Plans and up."}, 402)
        project.auth.update(checked.body)
        return _answer(checked, 200, project.auth)
    return JSONResponse({"message": f"{op} is not implemented by the stand-in"}, 501)


async def _serve_function(state: StandInState, runtime: DenoRuntime,
                          request: Request) -> Response:
    slug = request.path_params["slug"]
    host = request.headers.get("host", "")
    # One stand-in may hold several projects: the first one that has the function serves it.
    fn = next((p.functions[slug] for p in state.projects.values()
               if slug in p.functions and not p.functions[slug].deleted), None)
    ref = next((p.ref for p in state.projects.values() if slug in p.functions), "")
    if fn is None or not fn.versions:
        return JSONResponse({"code": "NOT_FOUND", "message": "Requested function was not "
                             "found"}, 404)
    version = fn.active
    if version.metadata.get("verify_jwt", True) and (
            request.headers.get("authorization") != f"Bearer {state.anon_key}"):
        return JSONResponse({"msg": "Invalid JWT"}, 401)
    port = await asyncio.to_thread(runtime.port_for, ref, slug, version)
    rest = request.path_params.get("rest", "")
    url = f"http://127.0.0.1:{port}/{slug}" + (f"/{rest}" if rest else "")
    headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",
                                                                             "content-length")}
    headers["x-forwarded-host"] = host
    async with httpx.AsyncClient(timeout=60) as client:
        upstream = await client.request(request.method, url, params=request.query_params,
                                        headers=headers, content=await request.body())
    drop = {"content-length", "transfer-encoding", "connection", "content-encoding"}
    return Response(upstream.content, upstream.status_code,
                    headers={k: v for k, v in upstream.headers.items() if k.lower() not in drop})
