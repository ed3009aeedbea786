# The presenced image: one static binary, no shell, no package manager, a
# non-root user. The binary is compiled outside (scripts/images.sh, which
# `make image` runs), so that building needs no base image from a registry.
FROM scratch
COPY bin/presenced /presenced
# The embedded NATS server (no --nats-url) stores under /data.
COPY --chown=65532:65532 bin/image-data /data
USER 65532:65532
ENV PRESENCE_LISTEN=:8008 \
    PRESENCE_DATA_DIR=/data
EXPOSE 8008
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=3 CMD ["/presenced", "healthcheck"]
ENTRYPOINT ["/presenced"]
