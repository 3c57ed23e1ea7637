"""The harvester's exceptions. Everything it raises on purpose is a `HarvesterError`:

    HarvesterError
     ├── ConfigError              settings missing or malformed: stop with one clear line
     ├── UnknownOwner             a login GitHub does not know
     ├── ScanAlreadyRunning       today's scan is already under way elsewhere
     ├── RateLimitWait            the budget is spent until `until`: the caller waits or defers
     └── GitHubError              one request to GitHub failed
          ├── TransientError      502/504, timeouts, "Something went wrong": retry, split the batch
          ├── RateLimited         primary limit (RATE_LIMITED in a 200): wait until reset
          ├── SecondaryRateLimited  403/429 secondary limit: wait `retry_after_s`
          └── RequestRejected     any other 4xx or malformed answer: not retried

Messages never contain a token: the client never puts one in an exception.
"""

from datetime import datetime

__all__ = [
    "ConfigError",
    "GitHubError",
    "HarvesterError",
    "RateLimitWait",
    "RateLimited",
    "RequestRejected",
    "ScanAlreadyRunning",
    "SecondaryRateLimited",
    "TransientError",
    "UnknownOwner",
]


class HarvesterError(Exception):
    """Base of every error the harvester raises on purpose."""


class ConfigError(HarvesterError):
    pass


class UnknownOwner(HarvesterError):
    def __init__(self, logins: list[str]) -> None:
        super().__init__("unknown login(s) on GitHub: " + ", ".join(logins))
        self.logins = logins


class ScanAlreadyRunning(HarvesterError):
    pass


class RateLimitWait(HarvesterError):
    """Every token is spent (or the per-minute budget is) until `until`."""

    def __init__(self, until: datetime, wait_s: float) -> None:
        super().__init__(f"rate limit: waiting {wait_s:.0f} s until {until:%H:%M:%S} UTC")
        self.until = until
        self.wait_s = wait_s


class GitHubError(HarvesterError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(GitHubError):
    pass


class RateLimited(GitHubError):
    def __init__(self, message: str, *, reset_at: datetime | None, status: int | None = 200):
        super().__init__(message, status=status)
        self.reset_at = reset_at


class SecondaryRateLimited(GitHubError):
    def __init__(self, message: str, *, retry_after_s: float | None, status: int) -> None:
        super().__init__(message, status=status)
        self.retry_after_s = retry_after_s


class RequestRejected(GitHubError):
    pass
