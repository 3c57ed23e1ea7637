"""``python -m tests.fakegithub``: a standalone fake GitHub for smoke tests and benchmarks.

It serves a seeded heavy-tailed population on ``/graphql`` with the ``/_fake/`` control
endpoints, and prints the URL and a few logins so a script can start tracking them.
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

from .population import heavy_tailed_population
from .service import FakeGitHub


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakegithub", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--owners", type=int, default=50, help="owners in the population")
    parser.add_argument("--repos", type=int, default=None, help="about this many repositories")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    parser.add_argument("--tokens", default="token", help="comma-separated valid tokens")
    parser.add_argument("--limit", type=int, default=5000, help="points per hour per token")
    parser.add_argument(
        "--points-per-minute",
        type=int,
        default=None,
        help="enable the secondary points/minute limit (GitHub: 2000)",
    )
    parser.add_argument("--max-concurrency", type=int, default=100)
    parser.add_argument(
        "--silent-unknown-login",
        action="store_true",
        help="unknown repositoryOwner logins give null without an error",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Build the world and serve it until interrupted."""
    args = parse_args(argv)
    world = heavy_tailed_population(args.owners, args.seed, args.repos)
    fake = FakeGitHub(
        world,
        tokens=[t for t in args.tokens.split(",") if t],
        limit=args.limit,
        latency=args.latency_ms / 1000.0,
        points_per_minute=args.points_per_minute,
        max_concurrency=args.max_concurrency,
        unknown_login_error=not args.silent_unknown_login,
    )
    logins = sorted(o.login for o in world.owners.values())
    print(
        f"fake GitHub: http://{args.host}:{args.port}/graphql  owners={len(world.owners)} "
        f"repos={len(world.repos)} public={len(world.truth())}  e.g. {' '.join(logins[:5])}",
        flush=True,
    )
    config = uvicorn.Config(
        fake.app,
        host=args.host,
        port=args.port,
        lifespan="off",
        log_level="warning",
        access_log=False,
        ws="none",
        http="h11",
        backlog=2048,
    )
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
