# syntax=docker/dockerfile:1
# The example model server (examples/model_server/server.py, Python standard library only),
# packaged the way a model is shipped: its own image, its interpreter pinned to one Debian
# version. Build from the repository root:
#   docker build -f manifests/model-server.Dockerfile -t mlsidecar-example-model:0.1.0 .
# Where no registry is reachable: --build-arg BASE_IMAGE=localhost/debian:bookworm
# (scripts/setup --containers makes it; podman needs --network host for apt-get).
ARG BASE_IMAGE=debian:12-slim
FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
# bookworm's python3; a different version fails the build instead of changing the model silently.
ARG PYTHON3_VERSION=3.11.2-1+b1
LABEL org.opencontainers.image.title="mlsidecar-example-model" \
      org.opencontainers.image.version="${VERSION}"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3=${PYTHON3_VERSION} \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
COPY examples/model_server/server.py /opt/model/server.py
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8081
# Listens on 127.0.0.1:8081 by default: in the pod only the sidecar reaches it.
ENTRYPOINT ["python3", "/opt/model/server.py"]
CMD ["--host", "127.0.0.1", "--port", "8081"]
