"""Harvest throughput benchmark: a full scan of ~300,000 repositories, end to end, by a real
arq worker process against a fake GitHub in another process with 50 ms latency.

    uv run python benchmarks/harvest_throughput.py [--owners 5000] [--repos 300000]
        [--points-per-minute 1800] [--concurrency 4] [--query-max-points 20] [--profile]

1. `python -m tests.fakegithub --owners 5000 --repos 300000 --latency-ms 50` as a
   subprocess, with two tokens of 12,500 points an hour (the primary limit never stops it);
2. a database of its own (`starledger_bench_harvest_tp`, dropped, re-created, migrated) and
   Redis db 12 (flushed: queue and rate-limit budget);
3. every owner tracked with the real CLI (`starledger track LOGIN...`);
4. `starledger scan --enqueue`, then `arq harvester.worker.WorkerSettings --burst` (the
   worker's own start-up catch-up joins the same run); the worker exits when the queue is
   empty;
5. measured: wall time from the enqueue to the run's `finished_at`, requests and points
   (the run's and the fake's `/_fake/stats`), snapshots, the worker's peak memory
   (GNU `time` %M, and `VmHWM` sampled from `/proc/PID/status`), CPU seconds of
   the worker and of the fake; the stored snapshots are compared with `/_fake/truth`.

`--profile` runs the worker and the fake under py-spy (installed on the fly with
`uv run --with py-spy`) and writes flame graphs to `/tmp/starledger-bench/`. Method and
last results: benchmarks/README.md, section "Harvest throughput".
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from arq import create_pool
from arq.connections import RedisSettings
from arq.jobs import Job
from redis.asyncio import Redis

from harvester.settings import HarvesterSettings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harvest_common import (
    ROOT,
    database_urls,
    flush_redis,
    private_redis,
    recreate_database,
    size_distribution,
    table,
)

DB_NAME = "starledger_bench_harvest_tp"
REDIS_DB = 12
TOKENS = ("bench-tp-1", "bench-tp-2")
TOKEN_LIMIT = 12_500
OUT = Path("/tmp/starledger-bench")
CLK_TCK = os.sysconf("SC_CLK_TCK")
GOAL_S = 120.0
GOAL_MB = 300.0


@dataclass
class Sampler:
    """Samples a process's memory (VmRSS/VmHWM) and CPU from /proc while it runs."""

    pid: int
    vm_hwm_kb: int = 0
    vm_rss_max_kb: int = 0
    samples: int = 0

    def sample(self) -> None:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{self.pid}/status").read_text()
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.vm_hwm_kb = max(self.vm_hwm_kb, int(line.split()[1]))
                elif line.startswith("VmRSS:"):
                    self.vm_rss_max_kb = max(self.vm_rss_max_kb, int(line.split()[1]))
            self.samples += 1


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (and its waited-for children), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / CLK_TCK


def descendant(pid: int, marker: str) -> int:
    """The process under `pid` (itself included) whose command line contains `marker`:
    the Python process under `/usr/bin/time` or `py-spy record --` wrappers."""
    for _ in range(400):
        queue = [pid]
        while queue:
            current = queue.pop()
            with contextlib.suppress(OSError):
                exe = os.readlink(f"/proc/{current}/exe")
                if (
                    "python" in Path(exe).name
                    and marker in Path(f"/proc/{current}/cmdline").read_text()
                ):
                    return current
                queue += [
                    int(c)
                    for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()
                ]
        time.sleep(0.05)
    raise RuntimeError(f"no process running {marker!r} under {pid}")


def timed(output: Path) -> list[str]:
    """GNU time as the parent: its `%M` is the child's own peak RSS. (`wait4` from this
    script would not do: Linux carries the forking process's high-water mark into the
    child's `ru_maxrss`, and this script holds the ground truth in memory.)"""
    if not Path("/usr/bin/time").exists():
        return []
    return ["/usr/bin/time", "-f", "%M %U %S", "-o", str(output)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spy(name: str, enabled: bool) -> list[str]:
    """`py-spy record … --` (py-spy from PyPI through `uv run --with py-spy`)."""
    if not enabled:
        return []
    OUT.mkdir(parents=True, exist_ok=True)
    found = subprocess.run(
        ["uv", "run", "--with", "py-spy", "python", "-c",
         "import shutil; print(shutil.which('py-spy'))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()[-1]  # fmt: skip
    return [
        found, "record", "--rate", "50", "--nonblocking", "--format", "flamegraph",
        "-o", str(OUT / f"{name}.svg"), "--",
    ]  # fmt: skip


@dataclass
class Result:
    settings: dict[str, Any]
    population: dict[str, float]
    track_s: float = 0.0
    cli_s: float = 0.0
    startup_s: float = 0.0
    wall_s: float = 0.0
    run_s: float = 0.0
    run: dict[str, Any] = field(default_factory=dict)
    fake_requests: int = 0
    fake_points: int = 0
    worker_rss_mb: float = 0.0
    worker_hwm_mb: float = 0.0
    worker_cpu_s: float = 0.0
    worker_cpu_user_s: float = 0.0
    fake_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0
    stored: int = 0
    truth: int = 0
    missing: int = 0
    extra: int = 0
    different: int = 0
    batches: list[tuple[float, float]] = field(default_factory=list)
    worker_log: str = ""


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process (server-wide; other users included)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                total += cpu_seconds(int(entry.name))
    return total


async def stored_snapshots(dsn: str, day: Any) -> dict[int, tuple[int, int, int, int]]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT repo_id, owner_id, stargazers, forks, watchers FROM snapshots WHERE day = $1",
            day,
        )
    finally:
        await connection.close()
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


async def latest_run(dsn: str) -> dict[str, Any]:
    connection = await asyncpg.connect(dsn)
    try:
        run = await connection.fetchrow("SELECT * FROM scan_runs ORDER BY id DESC LIMIT 1")
    finally:
        await connection.close()
    assert run is not None, "no scan run"
    found = dict(run)
    if isinstance(found.get("reasons"), str):
        found["reasons"] = json.loads(found["reasons"])
    return found


BATCH_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO harvester\.worker: batch \d+/\d+: "
    r"\d+ owners, (\d+) snapshots"
)


def batch_timeline(log: str) -> list[tuple[float, float]]:
    """(epoch, snapshots) of every finished batch, from the worker's log lines (the
    batches' `finished_at` column holds the transaction's start, see the README)."""
    found = []
    for line in log.splitlines():
        match = BATCH_LINE.match(line)
        if match:
            at = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            found.append((at, float(match[2])))
    return sorted(found)


async def service_identity(dsn: str, redis_url: str) -> tuple[str, str]:
    """PostgreSQL's start time and Redis's run id: if either changes during the run, a
    server was restarted under the benchmark (this machine is shared) and it is void."""
    connection = await asyncpg.connect(dsn)
    try:
        postgres = str(await connection.fetchval("SELECT pg_postmaster_start_time()"))
    finally:
        await connection.close()
    redis = Redis.from_url(redis_url)
    try:
        redis_id = str((await redis.info("server"))["run_id"])
    finally:
        await redis.aclose()
    return postgres, redis_id


async def enqueue_time(redis_url: str, job_id: str) -> float | None:
    """When arq recorded the job as enqueued (epoch seconds)."""
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        info = await Job(job_id, pool).info()
    finally:
        await pool.aclose()
    return info.enqueue_time.timestamp() if info is not None else None


def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "harvester.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"starledger {args[0]} failed ({done.returncode}): {done.stderr[-2000:]}"
        )
    return done.stdout


class Disturbed(RuntimeError):
    """PostgreSQL or Redis restarted under the measurement."""


async def benchmark(args: argparse.Namespace, redis_base: str | None) -> Result:
    database_url = await recreate_database(DB_NAME)
    dsn = database_urls(DB_NAME)[0]
    redis_url = await flush_redis(REDIS_DB, redis_base)
    OUT.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - set-up, before anything is measured
    port = free_port()
    fake_cmd = [
        *spy("fake", args.profile),
        sys.executable, "-m", "tests.fakegithub", "--port", str(port),
        "--owners", str(args.owners), "--repos", str(args.repos), "--seed", str(args.seed),
        "--latency-ms", str(args.latency_ms), "--tokens", ",".join(TOKENS),
        "--limit", str(TOKEN_LIMIT),
    ]  # fmt: skip
    overlay = str(Path(args.overlay).resolve()) if args.overlay else None  # noqa: ASYNC240 - set-up, before anything is measured
    fake = subprocess.Popen(  # noqa: ASYNC220 - set-up, before anything is measured
        fake_cmd,
        cwd=overlay or ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    settings = {
        "owners": args.owners,
        "repos (requested)": args.repos,
        "seed": args.seed,
        "latency": f"{args.latency_ms:g} ms",
        "POINTS_PER_MINUTE": args.points_per_minute,
        "SCAN_CONCURRENCY": args.concurrency,
        "QUERY_MAX_POINTS": args.query_max_points,
        "BATCH_MAX_POINTS": args.batch_max_points,
        "arq max_jobs": 4,
        "Redis": "private redis-server" if redis_base else f"shared, db {REDIS_DB}",
    }
    if args.overlay:
        settings["overlay"] = args.overlay
    result = Result(settings, {})
    try:
        assert fake.stdout is not None
        seen = []
        for _ in range(20):  # py-spy and uv may print lines first
            seen.append(await asyncio.to_thread(fake.stdout.readline))
            if "fake GitHub" in seen[-1] or not seen[-1]:
                break
        if "fake GitHub" not in seen[-1]:
            raise RuntimeError("the fake did not start: " + "".join(seen))
        threading.Thread(target=fake.stdout.read, daemon=True).start()  # keep the pipe drained
        fake_pid = descendant(fake.pid, "tests.fakegithub")
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            for _ in range(100):
                with contextlib.suppress(httpx.TransportError):
                    await client.get("/_fake/stats")
                    break
                await asyncio.sleep(0.1)
            owners = (await client.get("/_fake/owners")).json()["owners"]
            truth_all = (await client.get("/_fake/truth")).json()["repos"]
            sizes = dict.fromkeys((o["databaseId"] for o in owners), 0)
            for owner_id, *_ in truth_all.values():
                sizes[owner_id] += 1
            result.population = size_distribution(list(sizes.values()))

            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "GITHUB_TOKENS": ",".join(TOKENS),
                "GITHUB_GRAPHQL_URL": f"{base}/graphql",
                "POINTS_PER_MINUTE": str(args.points_per_minute),
                "SCAN_CONCURRENCY": str(args.concurrency),
                "QUERY_MAX_POINTS": str(args.query_max_points),
                "BATCH_MAX_POINTS": str(args.batch_max_points),
                "LOG_LEVEL": "INFO",
            }
            logins = sorted(o["login"] for o in owners)
            t0 = time.perf_counter()
            await asyncio.to_thread(run_cli, ["track", *logins], env)
            result.track_s = time.perf_counter() - t0
            before = (await client.get("/_fake/stats")).json()
            fake_cpu_before = cpu_seconds(fake_pid)
            pg_cpu_before = postgres_cpu()

            services_before = await service_identity(dsn, redis_url)
            # --- the measured part -------------------------------------------------
            cli_started = time.time()
            await asyncio.to_thread(run_cli, ["scan", "--enqueue"], env)
            cli_returned = time.time()
            log_path = OUT / "worker.log"
            with log_path.open("w") as log:
                time_path = OUT / "worker.time"
                time_path.unlink(missing_ok=True)
                worker = subprocess.Popen(  # noqa: ASYNC220 - a subprocess we poll without blocking
                    [
                        *timed(time_path),
                        *spy("worker", args.profile),
                        str(Path(sys.executable).parent / "arq"),
                        "harvester.worker.WorkerSettings",
                        "--burst",
                    ],
                    cwd=ROOT,
                    env={**env, "PYTHONPATH": overlay} if overlay else env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                sampler = Sampler(descendant(worker.pid, "harvester.worker"))
                deadline = time.monotonic() + args.timeout
                while True:
                    sampler.sample()
                    if worker.poll() is not None:
                        break
                    if time.monotonic() > deadline:
                        worker.send_signal(signal.SIGINT)
                        worker.wait(30)
                        raise RuntimeError(f"the worker ran over {args.timeout} s")
                    await asyncio.sleep(0.1)
            if await service_identity(dsn, redis_url) != services_before:
                raise Disturbed("PostgreSQL or Redis was restarted during the scan")
            result.fake_cpu_s = cpu_seconds(fake_pid) - fake_cpu_before
            result.postgres_cpu_s = postgres_cpu() - pg_cpu_before
            after = (await client.get("/_fake/stats")).json()
            result.worker_log = log_path.read_text()
            if worker.returncode != 0:
                raise RuntimeError(
                    f"worker exited {worker.returncode}:\n{result.worker_log[-3000:]}"
                )
            if time_path.exists():
                max_kb, user_s, sys_s = time_path.read_text().split()[-3:]
                result.worker_rss_mb = int(max_kb) / 1024
                result.worker_cpu_s = float(user_s) + float(sys_s)
                result.worker_cpu_user_s = float(user_s)
            result.worker_hwm_mb = sampler.vm_hwm_kb / 1024

            run = await latest_run(dsn)
            result.run = run
            finished = run["finished_at"]
            if finished is None:
                raise RuntimeError(f"the run did not finish: {run}")
            job_id = f"scan:{run['day'].isoformat()}:manual"
            enqueued_at = await enqueue_time(redis_url, job_id) or cli_returned
            result.cli_s = cli_returned - cli_started
            result.startup_s = run["started_at"].timestamp() - enqueued_at
            result.wall_s = finished.timestamp() - enqueued_at
            result.run_s = (finished - run["started_at"]).total_seconds()
            result.batches = [(f - enqueued_at, n) for f, n in batch_timeline(result.worker_log)]
            result.fake_requests = after["requests"] - before["requests"]
            result.fake_points = sum(after["points"].values()) - sum(before["points"].values())

            truth = {
                int(k): tuple(v)
                for k, v in (await client.get("/_fake/truth")).json()["repos"].items()
            }
            stored = await stored_snapshots(dsn, run["day"])
            result.stored, result.truth = len(stored), len(truth)
            result.missing = len(truth.keys() - stored.keys())
            result.extra = len(stored.keys() - truth.keys())
            result.different = sum(
                1 for k in truth.keys() & stored.keys() if tuple(stored[k]) != truth[k]
            )
    finally:
        if fake.poll() is None:
            fake.send_signal(signal.SIGINT)
            try:
                fake.wait(20)
            except subprocess.TimeoutExpired:
                fake.kill()
                fake.wait()
    return result


def report(r: Result, profile: bool) -> bool:
    p = r.population
    print("population (public repositories per owner)")
    print(
        table(
            ["owners", "public repos", "median", "p90", "p99", "max", "> 100 repos"],
            [[p["owners"], p["repositories"], p["median"], p["p90"], p["p99"], p["max"],
              p["over_100"]]],
        )
    )  # fmt: skip
    print("\nsettings: " + ", ".join(f"{k}={v}" for k, v in r.settings.items()))
    print(f"tracking {int(p['owners']):,} owners with `starledger track`: {r.track_s:.1f} s\n")
    run = r.run
    exact = r.missing == 0 and r.extra == 0 and r.different == 0 and r.stored == r.truth
    rows = [
        ["wall time, enqueue → run finished_at", f"{r.wall_s:.1f} s", f"≤ {GOAL_S:.0f} s"],
        ["of which: enqueue → run created (worker start-up)", f"{r.startup_s:.1f} s", ""],
        ["of which: run started_at → finished_at", f"{r.run_s:.1f} s", ""],
        ["run status / batches", f"{run['status']} / {run['batches']}", "done"],
        ["requests (run / fake)", f"{run['requests']:,} / {r.fake_requests:,}", ""],
        ["points (run / fake)", f"{run['points']:,} / {r.fake_points:,}", ""],
        ["points per 1,000 repos", f"{1000 * r.fake_points / max(1, r.truth):.2f}", "≤ 10.5"],
        ["snapshots written", f"{run['snapshots']:,}", f"{r.truth:,}"],
        ["waits (rate-limit budget)", f"{run['waits']} ({run['wait_s']:.1f} s)", ""],
        ["errors", f"{run['errors']}", "0"],
        ["repositories per second (wall)", f"{r.truth / r.wall_s:,.0f}", ""],
        ["worker peak RSS (GNU time %M)", f"{r.worker_rss_mb:.0f} MB" if r.worker_rss_mb
         else "n/a", f"≤ {GOAL_MB:.0f} MB"],
        ["worker VmHWM (sampled every 0.1 s)", f"{r.worker_hwm_mb:.0f} MB", ""],
        ["worker CPU (user+sys)", f"{r.worker_cpu_s:.1f} s ({r.worker_cpu_user_s:.1f} user)"
         if r.worker_cpu_s else "n/a", ""],
        ["fake GitHub CPU", f"{r.fake_cpu_s:.1f} s", ""],
        ["PostgreSQL CPU (all backends)", f"{r.postgres_cpu_s:.1f} s", ""],
        ["stored = /_fake/truth", "yes" if exact else
         f"NO (missing {r.missing}, extra {r.extra}, different {r.different})", "yes"],
    ]  # fmt: skip
    print(table(["measurement", "value", "goal"], rows))
    if r.batches:
        marks = [0.25, 0.5, 0.75, 1.0]
        done, total = 0.0, sum(n for _, n in r.batches)
        timeline = []
        for at, n in r.batches:
            done += n
            while marks and done >= marks[0] * total:
                timeline.append(f"{int(marks.pop(0) * 100)} % at {at:.1f} s")
        print("snapshots committed: " + ", ".join(timeline))
    if run.get("reasons"):
        print("run notes: " + "; ".join(run["reasons"][:10]))
    if profile:
        print(f"flame graphs: {OUT}/worker.svg, {OUT}/fake.svg")
    met = exact and r.wall_s <= GOAL_S and (r.worker_rss_mb or r.worker_hwm_mb) <= GOAL_MB
    print(
        f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: goal (≤ {GOAL_S:.0f} s, ≤ {GOAL_MB:.0f} MB, "
        f"exact) {'met' if met else 'MISSED'}"
    )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--owners", type=int, default=5000)
    parser.add_argument("--repos", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    # The harvester's own defaults, so that the benchmark measures what a deployment runs.
    defaults = {name: f.default for name, f in HarvesterSettings.model_fields.items()}
    parser.add_argument("--points-per-minute", type=int, default=defaults["POINTS_PER_MINUTE"])
    parser.add_argument("--concurrency", type=int, default=defaults["SCAN_CONCURRENCY"])
    parser.add_argument("--query-max-points", type=int, default=defaults["QUERY_MAX_POINTS"])
    parser.add_argument("--batch-max-points", type=int, default=defaults["BATCH_MAX_POINTS"])
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--profile", action="store_true", help="py-spy flame graphs")
    parser.add_argument(
        "--shared-redis",
        action="store_true",
        help=f"use db {REDIS_DB} of the shared Redis instead of a private redis-server",
    )
    parser.add_argument(
        "--overlay",
        metavar="DIR",
        help="run the fake and the worker with DIR first on the path (a patched copy of "
        "harvester/, db/ and tests/): measures a proposed patch without applying it",
    )
    parser.add_argument("--attempts", type=int, default=3, help="when a server restarts under it")
    args = parser.parse_args()
    sys.exit(asyncio.run(attempts(args)))


async def attempts(args: argparse.Namespace) -> int:
    for attempt in range(1, args.attempts + 1):
        try:
            if args.shared_redis:
                result = await benchmark(args, None)
            else:
                async with private_redis() as base:
                    result = await benchmark(args, base)
        except Disturbed as exc:
            print(f"attempt {attempt}: {exc} (this machine is shared); the run is void", flush=True)
            continue
        return 0 if report(result, args.profile) else 1
    return 2


if __name__ == "__main__":
    main()
