# One image for every Switchyard process; compose.yaml picks the command.
# EXTRAS chooses which pools' libraries are installed (the API needs none of them).
FROM python:3.11-slim
ARG EXTRAS=gpu,rigging,media,indexing
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY api api
COPY workers workers
COPY domain domain
COPY events events
COPY infra infra
RUN pip install ".[${EXTRAS}]"
EXPOSE 8000
CMD ["switchyard", "api", "--host", "0.0.0.0", "--port", "8000"]
