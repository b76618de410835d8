FROM registry.example.com:5000/base/image
RUN set -eux; \
    apt-get update; \
    apt-get install -y \
        --no-install-recommends \
        libssl3 \
    ; \
    # a comment inside a continuation
    chmod \
      g+s /srv/shared
ENV API_KEY=abcd1234efgh \
    LOG_LEVEL=debug
WORKDIR \
    relative/dir
USER 0:0
