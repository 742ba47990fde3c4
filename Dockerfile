# chroma-frame's server (Chroma's HTTP API v2) in a container. See docs/deploy.md.
#   docker build -t chroma-frame .                          (extras: --build-arg EXTRAS=otel,s3)
#   docker run -p 8000:8000 -v chroma-data:/data chroma-frame
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NUMBA_CACHE_DIR=/var/cache/numba

# The package from this repository (setup.py ships sql/ inside it), nothing else
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY sql ./sql
COPY chroma_frame ./chroma_frame
ARG EXTRAS=""
RUN pip install "/src${EXTRAS:+[$EXTRAS]}" \
    && python -c "from chroma_frame.engine.dense_knn import prepare_kernels; prepare_kernels(wait=True)" \
    && useradd --system --user-group --uid 1000 --create-home --home-dir /home/chroma chroma \
    && mkdir -p /data "$NUMBA_CACHE_DIR" \
    && chown -R chroma:chroma /data "$NUMBA_CACHE_DIR"

USER chroma
WORKDIR /data
EXPOSE 8000
VOLUME /data
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v2/heartbeat', timeout=4)"]
CMD ["chroma-frame", "run", "--path", "/data", "--host", "0.0.0.0"]
