# The lordba tools in a container: lordba-convert is the entry point, lordba-validate and
# lordba-bench are on PATH. Build and use (docs/install.md):
#   docker build -t lordba .
#   docker run --rm -v "$PWD:/work" -u "$(id -u):$(id -g)" lordba adapters/* --out-dir lba
# The build stage runs scripts/release.sh, the script .ci/run tests, and unpacks its archive;
# the runtime stage is a slim Debian with only the four C libraries the archive needs.
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libzstd-dev libjson-c-dev libssl-dev libpcre2-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN archive=$(scripts/release.sh --scratch-path /build --output /dist) \
    && mkdir /opt/lordba \
    && tar -xzf "$archive" -C /opt/lordba --strip-components=1

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libzstd1 libjson-c5 libssl3 libpcre2-8-0 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/lordba /opt/lordba
ENV PATH=/opt/lordba/bin:$PATH
WORKDIR /work
ENTRYPOINT ["lordba-convert"]
CMD ["--help"]
