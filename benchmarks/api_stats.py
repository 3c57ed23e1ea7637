"""API benchmark: the big-range stats response vs bare asyncpg, API memory growth, and
latency/throughput of small stats requests under concurrent load.

    uv run python benchmarks/api_stats.py [--repos 1000] [--days 365] [--load-s 10]

Uses its own database (`starledger_bench`, dropped and re-created, migrated with
Alembic, filled with COPY) and runs the API as `uvicorn web.app:app` in a subprocess,
so the client, the API and PostgreSQL are separate processes. Load is generated with
`wrk` when installed, else with httpx in a separate process. Method and last results:
benchmarks/README.md, section "API".
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DSN = os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
BENCH_DB = "starledger_bench"
BENCH_DSN = ADMIN_DSN.rsplit("/", 1)[0] + "/" + BENCH_DB
BIG_OWNER, SMALL_OWNER = 1, 2
FIRST_DAY = date(2025, 1, 1)
QUERY = (
    "SELECT repo_id, day, stargazers, forks, watchers FROM snapshots"
    " WHERE owner_id = $1 AND day BETWEEN $2 AND $3 ORDER BY repo_id, day"
)


async def create_database() -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
    finally:
        await admin.close()
    subprocess.run(  # noqa: ASYNC221 - once, before anything is measured
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        check=True,
        env={
            **os.environ,
            "DATABASE_URL": BENCH_DSN.replace("postgresql://", "postgresql+asyncpg://"),
        },
        capture_output=True,
    )


async def fill(repos: int, days: int) -> float:
    """Owner 1: `repos` x `days` snapshots; owner 2: 20 repositories x 30 days."""
    connection = await asyncpg.connect(BENCH_DSN)
    started = time.perf_counter()
    try:
        await connection.executemany(
            "INSERT INTO owners (id, node_id, login, name, kind, tracked)"
            " VALUES ($1, $2, $3, $4, 'User', true)",
            [(BIG_OWNER, "O_big", "big", "Big Owner"), (SMALL_OWNER, "O_small", "small", None)],
        )
        layout = [(BIG_OWNER, 1_000_000 + n, days) for n in range(repos)]
        layout += [(SMALL_OWNER, 2_000_000 + n, 30) for n in range(20)]
        await connection.copy_records_to_table(
            "repositories",
            columns=[
                "id",
                "node_id",
                "owner_id",
                "name",
                "name_with_owner",
                "is_fork",
                "is_archived",
                "first_seen_on",
                "last_seen_on",
            ],
            records=[
                (
                    repo,
                    f"R_{repo}",
                    owner,
                    f"r{repo}",
                    f"o/r{repo}",
                    False,
                    False,
                    FIRST_DAY,
                    FIRST_DAY + timedelta(days=span - 1),
                )
                for owner, repo, span in layout
            ],
        )
        scanned_at = datetime.now(UTC)

        def rows() -> object:
            for owner, repo, span in layout:
                for offset in range(span):
                    yield (
                        repo,
                        FIRST_DAY + timedelta(days=offset),
                        owner,
                        1000 + offset,
                        offset // 3,
                        offset // 7,
                        scanned_at,
                    )

        await connection.copy_records_to_table(
            "snapshots",
            columns=["repo_id", "day", "owner_id", "stargazers", "forks", "watchers", "scanned_at"],
            records=rows(),  # type: ignore[arg-type]
        )
        await connection.execute("VACUUM (ANALYZE) snapshots")
    finally:
        await connection.close()
    return time.perf_counter() - started


async def bare_asyncpg(days: int, runs: int) -> tuple[list[float], int]:
    connection = await asyncpg.connect(BENCH_DSN)
    times, count = [], 0
    try:
        for _ in range(runs):
            started = time.perf_counter()
            rows = await connection.fetch(
                QUERY, BIG_OWNER, FIRST_DAY, FIRST_DAY + timedelta(days=days - 1)
            )
            times.append(time.perf_counter() - started)
            count = len(rows)
    finally:
        await connection.close()
    return times, count


def rss_kib(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {
        key: int(re.search(rf"{key}:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        for key in ("VmRSS", "VmHWM")
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_api(port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": BENCH_DSN.replace("postgresql://", "postgresql+asyncpg://"),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "web.app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/users", timeout=1).raise_for_status()
            return process
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.2)


def big_requests(base: str, days: int, runs: int, pid: int) -> dict[str, object]:
    url = (
        f"{base}/v1/users/{BIG_OWNER}/stats?date_from={FIRST_DAY}"
        f"&date_to={FIRST_DAY + timedelta(days=days - 1)}"
    )
    before = rss_kib(pid)
    times: list[float] = []
    sizes = 0
    samples: list[int] = []
    with httpx.Client(timeout=60) as client:
        body = client.get(url).content  # warm-up, and a correctness check
        items = len(json.loads(body)["stats"])
        for _ in range(runs):
            started = time.perf_counter()
            with client.stream("GET", url) as response:
                sizes = 0
                for chunk in response.iter_raw(1 << 16):
                    sizes += len(chunk)
                    if len(samples) % 64 == 0:
                        samples.append(rss_kib(pid)["VmRSS"])
                    else:
                        samples.append(samples[-1])
            times.append(time.perf_counter() - started)
        csv_started = time.perf_counter()
        csv_bytes = len(client.get(url + "&format=csv").content)
        csv_s = time.perf_counter() - csv_started
    after = rss_kib(pid)
    return {
        "times_s": times,
        "items": items,
        "bytes": sizes,
        "rss_before_kib": before["VmRSS"],
        "rss_peak_kib": after["VmHWM"],
        "rss_after_kib": after["VmRSS"],
        "csv_s": csv_s,
        "csv_bytes": csv_bytes,
    }


def small_load(base: str, duration_s: int, connections: int) -> dict[str, object]:
    last_day = FIRST_DAY + timedelta(days=29)
    url = f"{base}/v1/users/{SMALL_OWNER}/stats?date_from={FIRST_DAY}&date_to={last_day}"
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run(
            [wrk, "-t2", f"-c{connections}", f"-d{duration_s}s", "--latency", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

        def ms(label: str) -> float:
            value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
            return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        return {
            "tool": "wrk",
            "p50_ms": ms("50"),
            "p99_ms": ms("99"),
            "rps": rps,
            "non_2xx": int(errors.group(1)) if errors else 0,
            "raw": out,
        }
    code = f"""
import asyncio, time, httpx, json
async def main():
    lat = []
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections={connections})) as c:
        end = time.monotonic() + {duration_s}
        async def worker():
            while time.monotonic() < end:
                t = time.perf_counter(); r = await c.get({url!r}); r.raise_for_status()
                lat.append(time.perf_counter() - t)
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range({connections})))
        total = time.monotonic() - started
    lat.sort()
    print(json.dumps({{"p50_ms": lat[len(lat)//2]*1000, "p99_ms": lat[int(len(lat)*.99)]*1000,
                      "rps": len(lat)/total}}))
asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {"tool": "httpx", **json.loads(done.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repos", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--load-s", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    asyncio.run(create_database())
    fill_s = asyncio.run(fill(args.repos, args.days))
    print(f"filled {args.repos * args.days + 600:,} snapshots in {fill_s:.1f} s")
    port = free_port()
    api = start_api(port)
    try:
        base = f"http://127.0.0.1:{port}"
        bare_times, bare_rows = asyncio.run(bare_asyncpg(args.days, args.runs))
        big = big_requests(base, args.days, args.runs, api.pid)
        bare_times2, _ = asyncio.run(bare_asyncpg(args.days, args.runs))
        load = small_load(base, args.load_s, args.connections)
        rss_end = rss_kib(api.pid)
    finally:
        api.terminate()
        api.wait(timeout=10)

    api_times: list[float] = big["times_s"]  # type: ignore[assignment]
    bare_all = bare_times + bare_times2
    api_med, bare_med = statistics.median(api_times), statistics.median(bare_all)
    keys = ("rss_before_kib", "rss_peak_kib", "rss_after_kib")
    mib = {key: float(str(big[key])) / 1024 for key in keys}
    print(f"big range: {big['items']:,} items, {big['bytes']:,} bytes; bare: {bare_rows:,} rows")
    print(
        f"  API body read  median {api_med:.3f} s min {min(api_times):.3f} max {max(api_times):.3f}"
    )
    print(
        f"  bare asyncpg   median {bare_med:.3f} s min {min(bare_all):.3f} max {max(bare_all):.3f}"
    )
    print(f"  ratio API / bare {api_med / bare_med:.2f}")
    print(f"  CSV              {big['csv_s']:.3f} s, {big['csv_bytes']:,} bytes")
    print(
        f"API RSS MiB: before {mib['rss_before_kib']:.1f}, peak {mib['rss_peak_kib']:.1f},"
        f" after big {mib['rss_after_kib']:.1f}, after load {rss_end['VmRSS'] / 1024:.1f}"
    )
    print(
        f"small (20 repos x 30 days, {args.connections} conns, {args.load_s} s, {load['tool']}):"
        f" p50 {load['p50_ms']:.1f} ms  p99 {load['p99_ms']:.1f} ms  {load['rps']:.0f} req/s"
        + (f"  non-2xx {load['non_2xx']}" if "non_2xx" in load else "")
    )


if __name__ == "__main__":
    main()
