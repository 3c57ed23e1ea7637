"""Job ids and enqueueing, shared by the worker and the CLI (which needs no token to
hand a scan to the workers)."""

from datetime import date

from arq.connections import ArqRedis

__all__ = ["batch_job_id", "enqueue_scan"]


def batch_job_id(day: date, run_id: int, batch_no: int) -> str:
    return f"scan:{day.isoformat()}:{run_id}:{batch_no}"


async def enqueue_scan(redis: ArqRedis, *, day: date, trigger: str) -> bool:
    """Hand a scan to the workers. The job id makes a repeated trigger a no-op; the
    job itself resumes a running scan instead of starting a second one."""
    job = await redis.enqueue_job(
        "start_scan", day.isoformat(), trigger, _job_id=f"scan:{day.isoformat()}:{trigger}"
    )
    return job is not None
