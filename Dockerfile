# UnionBot: `docker build -t unionbot .`, then see README.md ("Docker and docker compose").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# An unprivileged user owns only the data directory; the code stays read-only to it.
RUN groupadd --system --gid 10001 unionbot \
    && useradd --system --uid 10001 --gid unionbot --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin unionbot

# Install the project (bot, handlers, models, locales with the .po catalogues, and the Alembic
# migrations) into site-packages; the sources are not kept in the image.
COPY pyproject.toml README.md /tmp/src/
COPY bot /tmp/src/bot
COPY handlers /tmp/src/handlers
COPY models /tmp/src/models
COPY locales /tmp/src/locales
RUN cd /tmp/src \
    && pip install --no-cache-dir . \
    && cd / \
    && rm -rf /tmp/src

WORKDIR /app
RUN mkdir -p /app/data && chown unionbot:unionbot /app/data

# SQLite by default, in a directory meant for a volume (-v unionbot-data:/app/data).
# docker-compose.yml overrides DATABASE_URL with PostgreSQL.
ENV DATABASE_URL=sqlite+aiosqlite:////app/data/unionbot.db \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080

USER unionbot
EXPOSE 8080

# /healthz answers 200 when the database answers, 503 otherwise (urlopen raises on 503).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HTTP_PORT', '8080'), timeout=4)"]

CMD ["unionbot", "run"]
