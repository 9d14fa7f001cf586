"""Who may call a function: Supabase's gateway rule.

A function with `verify_jwt` (the default) needs `Authorization: Bearer <jwt>`, the JWT
signed with the environment's JWT secret (HS256) and not expired; the anon key is such a
JWT. Keys configured for the environment that are not JWTs of that secret (an anon key set
before the environment had a JWT secret) are accepted as they are, so existing settings
keep working. Refusals are Supabase's: 401 with `{"code": 401, "message": ...}`.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence

import jwt

MISSING = "Missing authorization header"
INVALID = "Invalid JWT"
# The embedded default's anon key lasts as long as Supabase's local one (about 10 years).
ANON_KEY_LIFETIME_S = 10 * 365 * 24 * 3600


class BearerCheck:
    def __init__(self, jwt_secret: str | None, keys: Sequence[str] = ()) -> None:
        self._secret = jwt_secret or None
        self._keys = [k.encode() for k in keys if k]

    def __repr__(self) -> str:  # neither the secret nor the keys
        return f"BearerCheck(jwt={'yes' if self._secret else 'no'}, keys={len(self._keys)})"

    def refusal(self, header: bytes | None) -> str | None:
        """None when the Authorization header lets the caller in, else why not."""
        if header is None:
            return MISSING
        scheme, _, token = header.partition(b" ")
        token = token.strip()
        if scheme.lower() != b"bearer" or not token:
            return INVALID
        known = False
        for key in self._keys:  # compare with every key: same time whichever matches
            known |= hmac.compare_digest(token, key)
        if known or self._valid_jwt(token):
            return None
        return INVALID

    def _valid_jwt(self, token: bytes) -> bool:
        if self._secret is None:
            return False
        try:
            jwt.decode(token, self._secret, algorithms=["HS256"],
                       options={"verify_aud": False, "require": []})
        except jwt.PyJWTError:
            return False
        return True


def sign_anon_key(jwt_secret: str, ref: str, *, now: float | None = None,
                  role: str = "anon") -> str:
    """An anon key for an environment whose JWT secret we made (the embedded default), or
    with `role="service_role"` its service role key: Supabase's keys are such JWTs."""
    issued = int(time.time() if now is None else now)
    return jwt.encode({"iss": "deploybot", "ref": ref, "role": role, "iat": issued,
                       "exp": issued + ANON_KEY_LIFETIME_S}, jwt_secret, algorithm="HS256")


def is_signed_by(token: str, jwt_secret: str) -> bool:
    return BearerCheck(jwt_secret)._valid_jwt(token.encode())
