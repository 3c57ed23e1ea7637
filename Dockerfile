# starledger: one image for the API (default CMD), the arq worker, migrations and the CLI.
#
#   docker build -t starledger .                    # production image (target "runtime", the last stage)
#   docker build --target dev -t starledger-dev .   # + the dev dependency group (smoke test only)
#
# Builds with BuildKit and with the classic builder alike (no `# syntax=`, no RUN --mount);
# nothing is pulled but python:3.11-slim, uv comes from PyPI through pip.

FROM python:3.11-slim AS base
# The base image's SSL_CERT_FILE / REQUESTS_CA_BUNDLE / PIP_CERT (when present) are kept.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    PATH=/app/.venv/bin:$PATH
ARG UV_VERSION=0.13.9
RUN python -m pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}" \
 && groupadd --gid 10001 starledger \
 && useradd --uid 10001 --gid starledger --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin starledger
WORKDIR /app

# Runtime dependencies exactly as locked, in their own layer: rebuilt only when
# pyproject.toml or uv.lock change, not when the code does.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project


# --- dev: runtime dependencies + the dev group. Contains no tests (.dockerignore): the
# --- smoke override (scripts/compose.smoke.yml) mounts ./tests read-only into it.
FROM base AS dev
RUN uv sync --frozen --no-install-project
COPY . .
RUN uv sync --frozen
USER starledger
CMD ["python", "-m", "tests.fakegithub", "--host", "0.0.0.0", "--port", "8900"]


# --- runtime (default target): the API by default; `arq harvester.worker.WorkerSettings`,
# --- `alembic upgrade head` and `starledger ...` run from the same image.
FROM base AS runtime
# Code, migrations, alembic.ini; .dockerignore keeps tests, .env*, .git and .venv out.
COPY . .
RUN uv sync --frozen --no-dev
USER starledger
EXPOSE 5000
CMD ["uvicorn", "web.app:app", "--host", "0.0.0.0", "--port", "5000"]
