"""A path convertor for ledger ids: at most 19 digits (a bigint), so a 5,000-digit id is a
404 instead of running into Python's integer-digit limit (a 500)."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class IdConvertor(Convertor[int]):
    regex = "[0-9]{1,19}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(int(value))


def register() -> None:
    """Make `{name:id}` known to Starlette's routes (idempotent)."""
    register_url_convertor("id", IdConvertor())
