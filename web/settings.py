"""API settings, read from the environment or `.env` (`DATABASE_URL` belongs to `db`)."""

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["WebSettings", "get_web_settings"]


class WebSettings(BaseSettings):
    """Everything the API reads at start-up.

    `CORS_ORIGINS` is a comma-separated list; empty keeps CORS closed (no CORS headers,
    browsers on other origins cannot read the API). `STATS_MAX_DAYS` is the documented
    maximum length of a stats range; longer ranges are answered with 422.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    REDIS_URL: str = "redis://localhost:6379/0"
    CORS_ORIGINS: str = ""
    STATS_MAX_DAYS: int = 3660
    CACHE_MAX_AGE_S: int = 300
    # /healthz turns unhealthy when the last successful scan is older than this.
    SCAN_MAX_AGE_H: float = 26.0
    DB_POOL_SIZE: int = 10

    @property
    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.CORS_ORIGINS.split(",") if origin.strip()]


@lru_cache
def get_web_settings() -> WebSettings:
    return WebSettings()
