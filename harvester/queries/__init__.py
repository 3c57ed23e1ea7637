"""GraphQL documents: GitHub's schema subset and the fragments every query uses."""

from functools import cache
from importlib.resources import files

__all__ = ["fragments", "schema_sdl"]


@cache
def schema_sdl() -> str:
    """The subset of GitHub's schema that starledger's queries are validated against."""
    return files(__package__).joinpath("schema.graphql").read_text(encoding="utf-8")


@cache
def fragments() -> str:
    return files(__package__).joinpath("fragments.graphql").read_text(encoding="utf-8")
