"""Harvester settings, from the environment or `.env` (see `.env.example`)."""

import re
from datetime import time
from functools import lru_cache
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from db.settings import get_database_settings
from harvester.errors import ConfigError

__all__ = ["HarvesterSettings", "config_error", "get_settings", "load_settings"]

_SCAN_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class HarvesterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    GITHUB_TOKENS: SecretStr = SecretStr("")
    GITHUB_TOKEN: SecretStr = SecretStr("")
    GITHUB_GRAPHQL_URL: str = "https://api.github.com/graphql"
    REDIS_URL: str = "redis://localhost:6379/0"
    SCAN_TIME: str = "03:00"
    SCAN_CONCURRENCY: int = Field(default=4, ge=1, le=50)
    GITHUB_TIMEOUT_S: float = Field(default=30.0, gt=0)
    QUERY_MAX_POINTS: int = Field(default=2, ge=1, le=100)
    POINTS_PER_MINUTE: int = Field(default=1800, ge=1)
    BATCH_MAX_POINTS: int = Field(default=100, ge=1)
    BATCH_TIMEOUT_S: int = Field(default=300, ge=10)
    LOG_LEVEL: str = "INFO"

    @field_validator("GITHUB_GRAPHQL_URL")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://api.github.com/graphql")
        return value

    @field_validator("LOG_LEVEL")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value.upper()

    @field_validator("SCAN_TIME")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not _SCAN_TIME.match(value):
            raise ValueError("must be HH:MM (UTC), e.g. 03:00")
        return value

    @property
    def scan_time(self) -> time:
        hour, minute = self.SCAN_TIME.split(":")
        return time(int(hour), int(minute))

    @property
    def tokens(self) -> list[SecretStr]:
        """The token pool: GITHUB_TOKENS, else GITHUB_TOKEN. Empty when unset."""
        raw = self.GITHUB_TOKENS.get_secret_value() or self.GITHUB_TOKEN.get_secret_value()
        return [SecretStr(t.strip()) for t in raw.split(",") if t.strip()]

    def require_tokens(self) -> list[SecretStr]:
        tokens = self.tokens
        if not tokens:
            raise ConfigError(
                "no GitHub token: set GITHUB_TOKENS (or GITHUB_TOKEN) in the environment or .env"
            )
        return tokens


def config_error(exc: ValidationError) -> ConfigError:
    """One line naming the setting and what is wrong, never its value (it may be a
    secret or a URL with a password)."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    return ConfigError(f"invalid setting {field}: {first['msg']}")


def load_settings() -> HarvesterSettings:
    """Read the harvester's settings, and check the database's: a malformed value
    becomes one `ConfigError` line."""
    try:
        get_database_settings()
        return HarvesterSettings()
    except ValidationError as exc:
        raise config_error(exc) from None


@lru_cache
def get_settings() -> HarvesterSettings:
    return load_settings()
