"""JSON log lines: the delivery id and deployment id on every line (null when none), the
context following a task through its awaits, and secrets redacted from messages and
tracebacks."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from service.observability import logs
from service.observability.redact import register


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logs.handler(stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_every_line_names_the_delivery_and_deployment(captured: io.StringIO) -> None:
    log = logging.getLogger("deploybot.test")

    async def job(delivery: str, deployment: int) -> None:
        with logs.bound(delivery_id=delivery):
            log.info("handling")
            await asyncio.sleep(0)
            logs.bind(deployment_id=deployment)
            log.info("deploying %s", "staging")

    log.info("outside")
    await asyncio.gather(job("d-1", 11), job("d-2", 22))
    log.info("after")
    out = lines(captured)
    assert all("delivery_id" in line and "deployment_id" in line for line in out)
    assert out[0]["delivery_id"] is None and out[-1]["deployment_id"] is None
    deploying = sorted((line["delivery_id"], line["deployment_id"]) for line in out
                       if line["msg"] == "deploying staging")
    assert deploying == [("d-1", 11), ("d-2", 22)]  # each task kept its own ids
    assert out[0]["level"] == "info" and str(out[0]["ts"]).endswith("Z")


def test_secrets_are_redacted_from_messages_and_tracebacks(captured: io.StringIO) -> None:
    register("a-webhook-secret-for-logs")
    log = logging.getLogger("deploybot.test")
    log.warning("connecting to %s", "postgresql://app:pw-in-a-url@db/x")
    try:
        raise RuntimeError("signature with a-webhook-secret-for-logs failed")
    except RuntimeError:
        log.exception("delivery failed")
    text = captured.getvalue()
    assert "pw-in-a-url" not in text and "a-webhook-secret-for-logs" not in text
    out = lines(captured)
    assert "RuntimeError" in str(out[1]["exc"]) and "[redacted]" in str(out[1]["exc"])
