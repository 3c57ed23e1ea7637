"""Job ids and enqueueing, shared by the worker and the CLI (which needs no token to
hand a scan to the workers)."""

from datetime import date

from arq.connections import ArqRedis, RedisSettings
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["batch_job_id", "enqueue_scan", "redis_settings"]


def redis_settings(url: str) -> RedisSettings:
    """arq's Redis, with patience: every command is retried with back-off for about two
    minutes, so a Redis restart pauses the workers instead of killing them; a worker that
    starts while Redis is down waits a minute for it."""
    settings = RedisSettings.from_dsn(url)
    settings.conn_retries = 30
    settings.conn_retry_delay = 2
    settings.retry_on_timeout = True
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError]
    # OSError too: while Redis is down, opening a connection fails with
    # ConnectionRefusedError, which redis-py's default retry does not catch.
    settings.retry = Retry(
        ExponentialBackoff(cap=5.0, base=0.25),
        retries=30,
        supported_errors=(RedisConnectionError, RedisTimeoutError, OSError),  # type: ignore[arg-type]
    )
    return settings


def batch_job_id(day: date, run_id: int, batch_no: int) -> str:
    return f"scan:{day.isoformat()}:{run_id}:{batch_no}"


async def enqueue_scan(redis: ArqRedis, *, day: date, trigger: str) -> bool:
    """Hand a scan to the workers. The job id makes a repeated trigger a no-op; the
    job itself resumes a running scan instead of starting a second one."""
    job = await redis.enqueue_job(
        "start_scan", day.isoformat(), trigger, _job_id=f"scan:{day.isoformat()}:{trigger}"
    )
    return job is not None
