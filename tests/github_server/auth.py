"""Who is calling: the App (RS256 JWT signed with its private key) or an installation
(a token minted by POST /app/installations/{id}/access_tokens)."""

from __future__ import annotations

import time

import jwt
from starlette.requests import Request

from .errors import ApiError
from .state import Repo, ServerState


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return None


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2


def require_app(request: Request, state: ServerState, public_key: str) -> None:
    """GitHub's rules: RS256, `iss` = the App's id, `exp` at most 10 minutes ahead."""
    token = bearer(request)
    if token is None or not looks_like_jwt(token):
        raise ApiError(401, "A JSON web token could not be decoded")
    try:
        claims = jwt.decode(token, public_key, algorithms=["RS256"], leeway=60,
                            options={"require": ["exp", "iat", "iss"]})
    except jwt.PyJWTError as exc:
        raise ApiError(401, f"A JSON web token could not be decoded ({type(exc).__name__})"
                       ) from None
    if str(claims["iss"]) != str(state.app_id):
        raise ApiError(401, "'Issuer' claim ('iss') must match the App's id")
    if float(claims["exp"]) > time.time() + 600 + 60:
        raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")


def require_installation(request: Request, state: ServerState) -> int:
    token = bearer(request)
    record = state.token_record(token) if token and not looks_like_jwt(token) else None
    if record is None:
        raise ApiError(401, "Bad credentials")
    return record.installation_id


def require_repo(request: Request, state: ServerState) -> Repo:
    """The repository in the path, visible to the calling installation (else 404, as GitHub
    hides repositories an installation cannot see)."""
    installation = require_installation(request, state)
    repo = state.find_repo(request.path_params["owner"], request.path_params["repo"])
    if repo is None or repo.installation_id != installation:
        raise ApiError(404, "Not Found")
    return repo
