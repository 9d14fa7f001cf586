"""Run the test GitHub server on a loopback port in a background thread.

    with GitHubTestServer.running(keys) as server:
        server.url, server.app_id, server.private_key, server.state, server.faults
"""

from __future__ import annotations

import contextlib
import fnmatch
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from . import webhooks
from .app import build_app
from .common import ServerContext
from .faults import Faults
from .keys import AppKeys, generate_app_keys
from .state import DEFAULT_INSTALLATION, JSON, RequestRecord, ServerState

APP_ID = 424242


class GitHubTestServer:
    def __init__(self, keys: AppKeys | None = None, *, app_id: int = APP_ID) -> None:
        self.keys = keys or generate_app_keys()
        self.app_id = app_id
        self.installation_id = DEFAULT_INSTALLATION
        self.state = ServerState(app_id)
        self.faults = Faults()
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def private_key(self) -> str:
        """The App's private key (PEM), for the bot's GitHubApp."""
        return self.keys.private_pem

    @property
    def public_key(self) -> str:
        return self.keys.public_pem

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.state.base_url = self.url
        app = build_app(ServerContext(self.state, self.faults, self.public_key))
        config = uvicorn.Config(app, log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=2, access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="github-test-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the test GitHub server failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError("the test GitHub server did not start within 30 s")
            time.sleep(0.005)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    @classmethod
    @contextlib.contextmanager
    def running(cls, keys: AppKeys | None = None, **kwargs: Any) -> Iterator[GitHubTestServer]:
        server = cls(keys, **kwargs)
        server.start()
        try:
            yield server
        finally:
            server.stop()

    # -- what happened -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        return list(self.state.requests)

    def calls(self, method: str | None = None, path: str = "*") -> list[RequestRecord]:
        """Logged requests, filtered by verb and an fnmatch glob on the path."""
        return [r for r in self.requests
                if (method is None or r.method == method.upper())
                and fnmatch.fnmatchcase(r.path, path)]

    def assert_no_validation_errors(self) -> None:
        errors = self.state.validation_errors
        assert not errors, "the bot sent bodies GitHub would refuse:\n" + "\n".join(
            f"{e.method} {e.path}: {[x['message'] for x in e.errors]}" for e in errors)

    # -- webhooks ------------------------------------------------------------------------------

    def set_webhook_target(self, url: str, secret: str) -> None:
        """Where deliveries (and redeliveries) go: the bot's /webhooks endpoint."""
        self.state.webhook_target = (url, secret)

    async def send_webhook(self, event: str, payload: JSON, *, url: str | None = None,
                           secret: str | None = None, guid: str | None = None) -> JSON:
        """POST a signed delivery to the bot and record it (GET /app/hook/deliveries)."""
        return await webhooks.send(self.state, event, payload, url=url, secret=secret,
                                   guid=guid)
