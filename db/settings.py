"""Database settings: one `DATABASE_URL`, read from the environment or `.env`."""

from functools import lru_cache

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@localhost:5432/starledger"


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    DATABASE_URL: str = DEFAULT_DATABASE_URL

    @field_validator("DATABASE_URL")
    @classmethod
    def _async_postgres(cls, value: str) -> str:
        if not value.startswith(("postgresql+asyncpg://", "postgresql://", "postgres://")):
            raise ValueError("DATABASE_URL must be a PostgreSQL URL (postgresql+asyncpg://…)")
        # Accept the plain libpq spelling too, but always talk asyncpg.
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value[len(prefix) :]
        return value


@lru_cache
def get_database_settings() -> DatabaseSettings:
    return DatabaseSettings()
