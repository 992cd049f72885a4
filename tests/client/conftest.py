"""Run each client test against both twins: ``HagueClient`` and ``AsyncHagueClient``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest

from hws.client import AsyncHagueClient, HagueClient
from tests.client.fake_hws import ISSUER, FakeClock, FakeHWS
from tests.support.jose import new_ec_key

T = TypeVar("T")
Client = HagueClient | AsyncHagueClient


async def call(value: Any) -> Any:
    """Await the async twin's coroutines; pass the sync twin's results through."""
    return await value if inspect.isawaitable(value) else value


@dataclass
class Twin:
    kind: str
    fake: FakeHWS = field(default_factory=FakeHWS)
    clock: FakeClock = field(default_factory=FakeClock)

    def run(self, scenario: Callable[[Any], Awaitable[T]], **kwargs: Any) -> T:
        """``await scenario(client)`` with a fresh client of this kind over the fake."""
        options = {"issuer": ISSUER, "client_id": "kr-test", "private_key": new_ec_key(), "monotonic": self.clock, **kwargs}

        async def main() -> T:
            if self.kind == "sync":
                with HagueClient(http=httpx.Client(transport=self.fake), sleep=self.clock.sleep, **options) as client:
                    return await scenario(client)
            async with AsyncHagueClient(
                http=httpx.AsyncClient(transport=self.fake), sleep=self.clock.asleep, **options
            ) as client:
                return await scenario(client)

        return asyncio.run(main())


@pytest.fixture(params=["sync", "async"])
def twin(request: pytest.FixtureRequest) -> Twin:
    return Twin(request.param)
