ARG GO_VERSION=1.26
FROM golang:${GO_VERSION} AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc make && rm -rf /var/lib/apt/lists/*
USER root

FROM alpine:latest AS runtime
RUN apk add --no-cache git build-base ca-certificates
COPY --from=build /out/app /app

FROM runtime AS final
USER app
HEALTHCHECK NONE
