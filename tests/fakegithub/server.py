"""Running the fake on a real loopback port, for clients that need a URL.

``serve`` runs uvicorn as a task in the caller's event loop (everything stays on one
thread); ``serve_in_thread`` runs it in its own thread and loop, for tests that block
the main thread (e.g. ``subprocess.run`` of the CLI against the fake).  Both bind port 0
themselves and yield ``http://127.0.0.1:PORT/graphql``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator

import uvicorn

from .service import FakeGitHub
from .world import World


def _socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _server(fake: FakeGitHub) -> uvicorn.Server:
    config = uvicorn.Config(
        fake.app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        ws="none",
        http="h11",
        timeout_keep_alive=30,
        backlog=2048,
    )
    return uvicorn.Server(config)


def _as_fake(target: FakeGitHub | World) -> FakeGitHub:
    return target if isinstance(target, FakeGitHub) else FakeGitHub(target)


@contextlib.asynccontextmanager
async def serve(
    target: FakeGitHub | World, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve ``target`` while the block runs; yields the GraphQL endpoint URL.

    A bare ``World`` is wrapped in ``FakeGitHub(world)`` (token ``"token"``).
    """
    fake = _as_fake(target)
    sock = _socket(host, port)
    server = _server(fake)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}/graphql"
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.contextmanager
def serve_in_thread(
    target: FakeGitHub | World, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Like ``serve`` but in a background thread with its own event loop."""
    fake = _as_fake(target)
    sock = _socket(host, port)
    server = _server(fake)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])),
        daemon=True,
        name="fakegithub",
    )
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("fake GitHub server failed to start")
            threading.Event().wait(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}/graphql"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
