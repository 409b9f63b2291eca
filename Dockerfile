# invoice-gateway: the GraphQL gateway, serving the configuration mounted at /config.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY resolvers ./resolvers
RUN pip install . && useradd --create-home --uid 10001 gateway

USER gateway
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
ENTRYPOINT ["invoice-gateway"]
CMD ["serve", "--config", "/config/gateway.yaml", "--host", "0.0.0.0", "--port", "8000"]
