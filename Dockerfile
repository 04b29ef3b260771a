# Multi-stage build: compile in the Rust image, run from a small Debian base as a non-root user.
# No architecture-specific step: both base images are multi-arch, so the same file builds for
# amd64 and arm64 (docker buildx build --platform linux/amd64,linux/arm64 -t sluice .; a
# platform other than the host's is built under emulation).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY interop-tests/Cargo.toml ./interop-tests/Cargo.toml
COPY interop-tests/src ./interop-tests/src
# No debug info in the image: a 6 MiB binary.
RUN CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --locked -p sluice --bin sluice

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/sluice sluice \
    && mkdir -p /var/lib/sluice && chown sluice /var/lib/sluice
COPY --from=build /src/target/release/sluice /usr/local/bin/sluice
USER sluice
VOLUME /var/lib/sluice
EXPOSE 9092 9644
# Inside a container the listener binds every interface. No address for clients is baked in:
# the right one depends on where they run, so pass it with -e SLUICE_ADVERTISE=HOST:PORT
# (localhost:9092 for clients on the host with -p 9092:9092, the container's name for clients
# in other containers on its network).
ENV SLUICE_LISTEN=0.0.0.0:9092 \
    SLUICE_HTTP=0.0.0.0:9644 \
    SLUICE_DATA_DIR=/var/lib/sluice
# Ready once recovery is done and the Kafka listener serves: `sluice health` asks GET
# /health/ready on the admin listener and exits 0 on 200, 1 otherwise (no curl needed). It
# asks the port of SLUICE_HTTP; with the admin listener off (SLUICE_HTTP=none) or moved by an
# --http argument, run with --no-healthcheck.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["sh", "-c", "exec sluice health --http \"127.0.0.1:${SLUICE_HTTP##*:}\""]
ENTRYPOINT ["sluice", "serve"]
