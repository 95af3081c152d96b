# kefu: multi-stage image; the runtime stage has no compiler and runs as a non-root user.
# Build: docker build -t kefu .   (for a smaller image pass a CPU-only torch index: --build-arg TORCH_INDEX=<url>)
FROM python:3.11-slim AS build
ARG TORCH_INDEX=""
RUN apt-get update && apt-get install -y --no-install-recommends gcc g++ && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1
RUN pip install --upgrade pip && pip install torch==2.13.0 ${TORCH_INDEX:+--index-url $TORCH_INDEX}
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY features ./features
COPY models ./models
RUN pip install ".[fast]"

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 kefu && mkdir /data && chown kefu /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    KEFU_DATA_DIR=/data \
    OMP_NUM_THREADS=1 \
    PYTHONUNBUFFERED=1
USER kefu
WORKDIR /home/kefu
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"
# Prepare the demo state once with: docker run -v kefu-data:/data kefu kefu demo --no-serve
CMD ["kefu", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
