"""Who sees what: the token signs the operator in; GitHub sign-in shows a person only the
repositories GitHub says they can read; sessions and forms resist cross-site use."""

from __future__ import annotations

import html

from tests.dashboard.conftest import Dash
from tests.dashboard.support import (
    add_deployment,
    browser,
    sign_in_with_github,
    sign_in_with_token,
)
from tests.github_server.routes_oauth import oauth


def test_pages_need_a_sign_in_and_the_token_gives_one(dash: Dash) -> None:
    add_deployment(dash.db)
    with browser(dash.url) as b:
        first = b.get("/deployments/1")
        assert first.status_code == 303
        assert first.headers["location"] == "/login?next=%2Fdeployments%2F1"
        page = b.get("/login").text
        assert "Sign in with GitHub" in page and 'name="token"' in page
        wrong = b.post("/login/token", {"token": "guess", "next": "/"})
        assert wrong.status_code == 401
        assert "not this server's sign-in token" in html.unescape(wrong.text)
        ok = sign_in_with_token(b)
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert b.get("/deployments/1").status_code == 200


def test_the_token_form_refuses_another_origin(dash: Dash) -> None:
    with browser(dash.url) as b:
        r = b.post("/login/token", {"token": "x"}, origin="https://evil.example")
        assert r.status_code == 403 and "another site" in r.text


def test_github_sign_in_shows_only_readable_repositories(dash: Dash) -> None:
    add_deployment(dash.db, repo="octo/backend")
    add_deployment(dash.db, repo="octo/secret", sha="f" * 40)
    with browser(dash.url) as b:
        landed = sign_in_with_github(b, dash.github, "rita")
        assert landed.status_code == 303 and landed.headers["location"] == "/"
        page = b.get("/").text
        assert "octo/backend" in page and "octo/secret" not in page
        assert "your permission: read" in page
        assert "Roll back" not in page  # reading is not rolling back
        assert b.get("/deployments/2").status_code == 404  # octo/secret's
        assert "octo/secret" not in b.get("/history").text
    with browser(dash.url) as b:
        sign_in_with_github(b, dash.github, "mona")
        page = b.get("/").text
        assert "octo/backend" in page and "octo/secret" in page
    assert oauth(dash.github.state).sign_ins == ["rita", "mona"]


def test_a_callback_that_did_not_start_here_is_refused(dash: Dash) -> None:
    with browser(dash.url) as b:
        r = b.get("/auth/callback?code=abc&state=forged")
        assert r.status_code == 400 and "did not start in this browser" in r.text
        cancelled = b.get("/auth/callback?error=access_denied")
        assert cancelled.status_code == 400 and "cancelled" in cancelled.text
        assert b.get("/").status_code == 303  # still signed out


def test_sign_out_needs_the_session_token(dash: Dash) -> None:
    with browser(dash.url) as b:
        sign_in_with_token(b)
        refused = b.post("/logout", {"csrf": "nope"})
        assert refused.status_code == 403
        assert b.get("/").status_code == 200
        out = b.post("/logout", {"csrf": b.csrf()})
        assert out.status_code == 303
        assert b.get("/").status_code == 303


def test_pages_carry_a_strict_content_security_policy(dash: Dash) -> None:
    with browser(dash.url) as b:
        page = b.get("/login")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in page.text  # no inline script: the policy forbids it
