FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install ".[postgres]" && useradd --create-home --uid 10001 atelier \
    && mkdir /data && chown atelier /data

USER atelier
WORKDIR /data
# Mount config.toml at /data/config.toml, or pass ATELIER_DISCORD_TOKEN / ATELIER_API_KEY.
ENV ATELIER_DATABASE_URL=sqlite+aiosqlite:////data/atelier.db \
    ATELIER_METRICS_LISTEN=0.0.0.0:9108
EXPOSE 9108
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"
# With no config file the environment alone configures the bot. SIGTERM stops it gracefully.
CMD ["atelier", "run"]
