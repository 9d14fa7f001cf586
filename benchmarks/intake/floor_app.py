"""The floor: a Starlette app that verifies the signature and answers 202, nothing more."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from service.webhooks.signature import verify

SECRET = os.environ["BENCH_SECRET"]


async def webhooks(request: Request) -> JSONResponse:
    body = await request.body()
    if not verify(SECRET, body, request.headers.get("x-hub-signature-256")):
        return JSONResponse({"error": "bad signature"}, status_code=401)
    return JSONResponse({"accepted": request.headers.get("x-github-delivery")},
                        status_code=202)


app = Starlette(routes=[Route("/webhooks", webhooks, methods=["POST"])])
