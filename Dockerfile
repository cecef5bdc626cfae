# Debian bookworm's own Python 3.11. scripts/image_check.sh builds this image from a debootstrapped
# bookworm imported under this name, so the base needs no registry.
FROM debian:bookworm-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && python3 -m venv /opt/atelier
ENV PATH=/opt/atelier/bin:$PATH

WORKDIR /src
# The pinned dependencies get their own layer, so a code change rebuilds only the last install.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['postgres']))" > requirements.txt \
    && pip install -c constraints.txt -r requirements.txt
COPY README.md ./
COPY bot ./bot
COPY cogs ./cogs
# /data belongs to uid 10001: a new named volume mounted there copies that ownership. A bind
# mount keeps the host directory's owner instead, so the README has it chowned to 10001 first
# (or the container run with --user as the directory's owner).
RUN pip install --no-deps -c constraints.txt . && rm -rf /src \
    && useradd --create-home --uid 10001 atelier && mkdir /data && chown atelier:atelier /data

USER atelier
# The working directory is where the default SQLite file (atelier.db) and config.toml are found,
# so both live in /data. The database URL is deliberately not set here: an environment variable
# would override [database] url in a mounted /data/config.toml without a word.
WORKDIR /data
# The health check needs the metrics server. Like every ATELIER_* variable this one wins over the
# file's [metrics] listen; move it with -e ATELIER_METRICS_LISTEN=host:port (the check follows).
# matplotlib (the /credit usage chart) keeps its cache in /tmp: writable for any --user.
ENV ATELIER_METRICS_LISTEN=0.0.0.0:9108 MPLCONFIGDIR=/tmp/matplotlib
EXPOSE 9108
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('ATELIER_METRICS_LISTEN', ':9108').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
# With no config file the environment alone configures the bot. SIGTERM stops it gracefully
# within runtime.shutdown_grace (20 s): give `docker stop` more than that (--stop-timeout 30).
CMD ["atelier", "run"]
