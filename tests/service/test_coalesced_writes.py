"""The protocol `deploybot serve` runs: a response's writes leave the process as one, and
every response still arrives whole (keep-alive, streamed bodies, a closing connection)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from service.coalesced_writes import CoalescingHttpToolsProtocol, CoalescingTransport
from tests.http_server import serve


class Recording(asyncio.Transport):
    """A transport that keeps what it is asked to do (the socket side is uvloop's own)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0


def test_writes_of_one_loop_step_are_sent_together_and_a_close_sends_them_first() -> None:
    async def scenario() -> list[tuple[str, bytes]]:
        inner = Recording()
        wrapped = CoalescingTransport(inner, asyncio.get_running_loop())
        wrapped.write(b"HTTP/1.1 202 Accepted\r\n\r\n")
        wrapped.write(b"")
        wrapped.write(memoryview(b'{"accepted":"1"}'))
        assert inner.calls == []  # nothing sent mid-step
        assert wrapped.get_write_buffer_size() == 41
        await asyncio.sleep(0)
        wrapped.write(b"last")
        wrapped.close()  # sent before the close, not dropped
        await asyncio.sleep(0)
        wrapped.write(b"after close")
        await asyncio.sleep(0)
        return inner.calls

    assert asyncio.run(scenario()) == [
        ("write", b'HTTP/1.1 202 Accepted\r\n\r\n{"accepted":"1"}'),
        ("write", b"last"), ("close", b"")]


def test_an_abort_drops_what_waits() -> None:
    async def scenario() -> list[tuple[str, bytes]]:
        inner = Recording()
        wrapped = CoalescingTransport(inner, asyncio.get_running_loop())
        wrapped.write(b"never sent")
        wrapped.abort()
        await asyncio.sleep(0)
        return inner.calls

    assert asyncio.run(scenario()) == [("abort", b"")]


async def _small(request: Request) -> Response:
    return PlainTextResponse(f"hello {request.query_params.get('n', '')}")


async def _streamed(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(200):
            yield f"{i:05d}".encode() * 200  # 1 KB a chunk
            if i % 50 == 0:
                await asyncio.sleep(0)

    return StreamingResponse(chunks(), media_type="text/plain")


def test_responses_arrive_whole_through_the_real_server() -> None:
    app = Starlette(routes=[Route("/small", _small), Route("/streamed", _streamed)])
    with serve(app, http=CoalescingHttpToolsProtocol) as url:
        with httpx.Client(base_url=url) as client:  # one kept-alive connection
            for n in range(20):
                r = client.get("/small", params={"n": n})
                assert r.status_code == 200 and r.text == f"hello {n}"
            streamed = client.get("/streamed")
            assert streamed.content == b"".join(f"{i:05d}".encode() * 200 for i in range(200))
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as raw:  # the server closes it
            raw.sendall(b"GET /small?n=x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            received = b""
            while chunk := raw.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 200 OK\r\n") and received.endswith(b"hello x")
