"""Wiring shared by the worker and the CLI: the GitHub client, the budget and an
executor factory, built from the settings."""

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from redis.asyncio import Redis

from harvester.budget import Budget
from harvester.executor import Executor, ScanStats, WaitHook
from harvester.github import GitHubClient
from harvester.settings import HarvesterSettings

__all__ = ["Harvester", "configure_logging", "open_harvester"]


@dataclass
class Harvester:
    settings: HarvesterSettings
    github: GitHubClient
    budget: Budget
    # SCAN_CONCURRENCY holds for the process: every batch's executor shares these slots.
    slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.settings.SCAN_CONCURRENCY)

    def executor_for(
        self, *, max_inline_wait_s: float = math.inf, on_wait: WaitHook | None = None
    ) -> Callable[[ScanStats], Executor]:
        def build(stats: ScanStats) -> Executor:
            return Executor(
                self.github,
                self.budget,
                concurrency=self.settings.SCAN_CONCURRENCY,
                stats=stats,
                max_inline_wait_s=max_inline_wait_s,
                on_wait=on_wait,
                slots=self.slots,
            )

        return build


@asynccontextmanager
async def open_harvester(
    settings: HarvesterSettings,
    redis: Redis,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Harvester]:
    tokens = settings.require_tokens()
    budget = Budget(redis, tokens, points_per_minute=settings.POINTS_PER_MINUTE)
    async with GitHubClient(
        url=settings.GITHUB_GRAPHQL_URL, timeout_s=settings.GITHUB_TIMEOUT_S, transport=transport
    ) as github:
        yield Harvester(settings, github, budget)


def configure_logging(level: str) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level.upper())
    # Under `arq`, arq's own handler prints its lines: don't print them twice.
    arq_logger = logging.getLogger("arq")
    arq_logger.propagate = not arq_logger.handlers
    # httpx logs every request line at INFO; keep the worker's log about the scan.
    for noisy in ("httpx", "httpcore", "gql.transport.httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
