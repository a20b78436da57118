# syntax=docker/dockerfile:1
# The image of every process, one build argument choosing which. Build from the repository
# root (the context holds requirements.lock and shared/):
#   docker build --build-arg COMPONENT=referrals -t early-help/referrals .
# COMPONENT: gateway (the default), referrals, assessments, consent, notifications, or migrate
# (the one-shot migration step). docker-compose.yml builds every image this way.
# The notifications worker runs from the notifications image with another command:
#   python -m services.notifications.worker   (health on port 8005)
# docker-compose.yml and deploy/k8s/notifications-worker.yaml set that command.
#
# How the argument chooses: a `code-<component>` stage copies what the component's image holds
# and an `app-<component>` stage gives its settings, port, healthcheck and command; the last
# stage is `app-${COMPONENT}`, and BuildKit builds only the stages it needs. A COMPONENT with
# no stages fails the build (there is no image `app-<that name>` to pull).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG COMPONENT=gateway

# --- dependencies: the pinned lock installed into a virtualenv, and the shared library -------
FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-compile -r /tmp/requirements.lock
WORKDIR /app
COPY shared/ shared/

# --- code: the component's own package, never another service's code ------------------------
FROM deps AS code-gateway
COPY gateway/ gateway/

FROM deps AS code-referrals
COPY services/__init__.py services/__init__.py
COPY services/referrals/ services/referrals/

FROM deps AS code-assessments
COPY services/__init__.py services/__init__.py
COPY services/assessments/ services/assessments/

FROM deps AS code-consent
COPY services/__init__.py services/__init__.py
COPY services/consent/ services/consent/

FROM deps AS code-notifications
COPY services/__init__.py services/__init__.py
COPY services/notifications/ services/notifications/

# The migration step holds every process that owns a database: each Alembic env.py imports
# its own models.
FROM deps AS code-migrate
COPY gateway/ gateway/
COPY services/__init__.py services/__init__.py
COPY services/referrals/ services/referrals/
COPY services/assessments/ services/assessments/
COPY services/consent/ services/consent/
COPY services/notifications/ services/notifications/

FROM code-${COMPONENT} AS build
# Compile now: the root filesystem is read-only at run time.
RUN python -m compileall -q /app /opt/venv

# --- runtime: no compilers, no pip cache, a non-root user ------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && install -d -o app -g app -m 0750 /var/lib/early-help
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
WORKDIR /app
# Numeric uid so Kubernetes can verify runAsNonRoot.
USER 10001:10001

# --- per component: settings, port, healthcheck and default command --------------------------
# --no-access-log: uvicorn's access log prints query strings (names, NHS numbers in
# /v1/people?...); the app writes its own JSON logs, which keep personal details out.
FROM runtime AS app-gateway
ENV EH_GATEWAY_HOST=0.0.0.0 \
    EH_GATEWAY_PORT=8000 \
    EH_GATEWAY_DATA_DIR=/var/lib/early-help
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["uvicorn", "--factory", "gateway.main:create_app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log"]

FROM runtime AS app-referrals
ENV EH_REFERRALS_HOST=0.0.0.0 \
    EH_REFERRALS_PORT=8001 \
    EH_REFERRALS_DATA_DIR=/var/lib/early-help
EXPOSE 8001
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8001/healthz', timeout=3)"]
CMD ["uvicorn", "--factory", "services.referrals.main:create_app", "--host", "0.0.0.0", "--port", "8001", "--no-access-log"]

FROM runtime AS app-assessments
ENV EH_ASSESSMENTS_HOST=0.0.0.0 \
    EH_ASSESSMENTS_PORT=8002 \
    EH_ASSESSMENTS_DATA_DIR=/var/lib/early-help
EXPOSE 8002
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8002/healthz', timeout=3)"]
CMD ["uvicorn", "--factory", "services.assessments.main:create_app", "--host", "0.0.0.0", "--port", "8002", "--no-access-log"]

FROM runtime AS app-consent
ENV EH_CONSENT_HOST=0.0.0.0 \
    EH_CONSENT_PORT=8003 \
    EH_CONSENT_DATA_DIR=/var/lib/early-help
EXPOSE 8003
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8003/healthz', timeout=3)"]
CMD ["uvicorn", "--factory", "services.consent.main:create_app", "--host", "0.0.0.0", "--port", "8003", "--no-access-log"]

FROM runtime AS app-notifications
ENV EH_NOTIFICATIONS_HOST=0.0.0.0 \
    EH_NOTIFICATIONS_PORT=8004 \
    EH_NOTIFICATIONS_DATA_DIR=/var/lib/early-help
EXPOSE 8004
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8004/healthz', timeout=3)"]
CMD ["uvicorn", "--factory", "services.notifications.main:create_app", "--host", "0.0.0.0", "--port", "8004", "--no-access-log"]

# `alembic upgrade head` for every database (deploy/docker/migrate.sh), then exit.
FROM runtime AS app-migrate
COPY --chmod=0755 deploy/docker/migrate.sh /usr/local/bin/eh-migrate
CMD ["eh-migrate"]

FROM app-${COMPONENT}
