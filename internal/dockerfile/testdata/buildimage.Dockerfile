FROM alpine:3.20 AS assets
RUN apk add --no-cache nodejs npm

FROM golang:1.26-alpine
RUN apk add git=2.45.2-r0 make
COPY --from=assets /dist /srv/www
USER 65532:65532
HEALTHCHECK CMD ["/srv/app", "-health"]
