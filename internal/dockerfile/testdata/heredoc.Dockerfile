# syntax=docker/dockerfile:1.7
FROM debian:bookworm
RUN <<EOF
set -e
apt-get update
apt-get install -y python3
curl -sL https://example.com/setup | bash
EOF
COPY <<EOF /etc/motd
Welcome. apt-get upgrade is not a command here.
EOF
RUN --mount=type=cache,target=/var/lib/apt,sharing=locked \
    --mount=type=cache,target=/var/cache/apt \
    apt-get update && apt-get install -y --no-install-recommends jq
USER nobody
HEALTHCHECK CMD ["true"]
