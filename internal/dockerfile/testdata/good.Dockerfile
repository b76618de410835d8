# syntax=docker/dockerfile:1
FROM golang:1.26.8-bookworm@sha256:4e5c6a1f0d8c4c5f7d2a3f1d6e7b8a9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/app ./cmd/app

FROM debian:12.15-slim@sha256:1f2e3d4c5b6a79881726354453627180a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --uid 10001 --no-create-home app
COPY --from=build /out/app /usr/local/bin/app
ENV APP_PASSWORD_FILE=/run/secrets/db_password
ARG API_TOKEN
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=30s CMD ["/usr/local/bin/app", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/app"]
