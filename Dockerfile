FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
# /data belongs to uid 10001: a new named volume mounted there copies that ownership. A bind
# mount keeps the host directory's owner instead, so the README has it chowned to 10001 first
# (or the container run with --user as the directory's owner).
RUN pip install ".[postgres]" && useradd --create-home --uid 10001 atelier \
    && mkdir /data && chown atelier:atelier /data

USER atelier
WORKDIR /data
# Mount config.toml at /data/config.toml, or pass ATELIER_DISCORD_TOKEN / ATELIER_API_KEY.
# matplotlib (the /credit usage chart) keeps its cache in /tmp: writable for any --user.
ENV ATELIER_DATABASE_URL=sqlite+aiosqlite:////data/atelier.db \
    ATELIER_METRICS_LISTEN=0.0.0.0:9108 \
    MPLCONFIGDIR=/tmp/matplotlib
EXPOSE 9108
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"
# With no config file the environment alone configures the bot. SIGTERM stops it gracefully.
CMD ["atelier", "run"]
