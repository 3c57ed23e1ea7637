"""starledger's harvester: scans GitHub with batched GraphQL queries into PostgreSQL."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("starledger")
except PackageNotFoundError:  # running from a bare checkout
    __version__ = "0.0.0"
