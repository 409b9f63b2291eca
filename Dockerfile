# invoice-gateway: the GraphQL gateway, serving the configuration mounted at /config.
# Two stages: the build stage installs the package into a virtualenv (its dependencies at
# the versions of requirements.lock); the final image holds only that virtualenv on the
# slim base, runs as an unprivileged user, and has no build tools.
# The base is pinned to an exact Python and Debian release; pin its digest as well
# (FROM python:3.11.13-slim-bookworm@sha256:...) where your registry mirror is known.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY gateway ./gateway
COPY resolvers ./resolvers
# The dependencies at the versions of requirements.lock (hash-checked), then the package
# itself without resolving anything more.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes -r requirements.lock \
 && /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/pip uninstall --yes pip

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH
RUN useradd --system --no-create-home --uid 10001 gateway
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"]
ENTRYPOINT ["invoice-gateway"]
CMD ["serve", "--config", "/config/gateway.yaml", "--host", "0.0.0.0", "--port", "8000"]
