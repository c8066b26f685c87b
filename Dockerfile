# syntax=docker/dockerfile:1
# Aurum control plane image. Two stages: `build` installs the project into a virtualenv, `runtime`
# copies only that virtualenv onto a clean slim base and runs it as an unprivileged user.
# No secrets are baked in: database/Redis URLs and API keys arrive as environment variables at run
# time (see k8s/deployment.yaml for the Secret that provides them).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Every runtime dependency ships a manylinux wheel, so no compiler is needed here.
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --upgrade pip && pip install .

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AURUM_HOST=0.0.0.0 \
    AURUM_PORT=8080
RUN groupadd --system --gid 10001 aurum \
    && useradd --system --uid 10001 --gid aurum --no-create-home \
        --home-dir /app --shell /usr/sbin/nologin aurum
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# Alembic revisions are not part of the installed package; `aurum migrate` finds alembic.ini
# (and migrations/ beside it) in the working directory.
COPY alembic.ini ./
COPY migrations ./migrations
# The provider file (limits, quotas, budgets, schedules) is read from the working directory.
COPY config ./config
USER 10001:10001
EXPOSE 8080
# python:3.11-slim has no curl; use the interpreter that is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
# `aurum serve` by default; `docker run IMAGE migrate` (or the k8s Job) runs other subcommands.
ENTRYPOINT ["aurum"]
CMD ["serve"]
