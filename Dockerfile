# Multi-stage build: compile in the Rust image, run from a small Debian base as a non-root user.
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
# Inside a container the listener binds every interface; clients are told the address set in
# SLUICE_ADVERTISE (e.g. docker run -e SLUICE_ADVERTISE=localhost:9092 -p 9092:9092 sluice).
ENV SLUICE_LISTEN=0.0.0.0:9092 \
    SLUICE_HTTP=0.0.0.0:9644 \
    SLUICE_ADVERTISE=localhost:9092 \
    SLUICE_DATA_DIR=/var/lib/sluice
ENTRYPOINT ["sluice", "serve"]
