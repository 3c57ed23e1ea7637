"""OpenAPI `responses` shared by the routes: the error shapes and the stats bodies."""

from typing import Any

from web.schemas import DESIGN_EXAMPLE

__all__ = ["NOT_FOUND", "STATS_RESPONSES"]

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "Never tracked / unknown id",
        "content": {"application/json": {"example": {"detail": "owner 1 was never tracked"}}},
    }
}

_CSV = {
    "text/csv": {
        "schema": {"type": "string"},
        "example": "repo_id,date,stargazers,forks,watchers\n7329078,2022-06-10,42,9,14\n",
    }
}


def stats_responses(example: dict[str, Any] | None) -> dict[int | str, dict[str, Any]]:
    json_content: dict[str, Any] = {} if example is None else {"example": example}
    return {
        200: {
            "description": "The series, ordered by repo_id then date; JSON or CSV "
            "(`?format=csv` or `Accept: text/csv`). Streamed.",
            "content": {"application/json": json_content, **_CSV},
        },
        304: {"description": "Not modified: the `If-None-Match` ETag still holds."},
        **NOT_FOUND,
    }


STATS_RESPONSES = stats_responses(DESIGN_EXAMPLE)
