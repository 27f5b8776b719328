# syntax=docker/dockerfile:1
# stratum-guard's container image: built on Debian 12 with the same packages as the Makefile's
# BUILD_DEPS, run on debian:12-slim with only the shared libraries the binary links.
#   docker build --build-arg COMMIT=$(git rev-parse --short=12 HEAD) \
#     -t ghcr.io/stratum-guard/stratum-guard:0.1.0 .
# (Not built on the project's development machines, which run no container engine: see
# docs/INSTALL.md.)

FROM debian:12 AS build
# Keep in step with BUILD_DEPS in the Makefile (the test and benchmark libraries are not needed
# here, but installing the same list keeps one source of truth for what builds the project).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake make g++ pkg-config git ca-certificates openssl curl \
      libboost1.81-dev libssl-dev rapidjson-dev prometheus-cpp-dev libre2-dev \
      libyaml-cpp-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# .git stays out of the build context, so the commit for stratum_guard_build_info comes in here.
ARG COMMIT=unknown
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DSTRATUM_GUARD_COMMIT="${COMMIT}" \
      -DSTRATUM_GUARD_TESTS=OFF -DSTRATUM_GUARD_BENCH=OFF \
 && cmake --build /build -j"$(nproc)" --target stratum-guard \
 && strip /build/stratum-guard \
 && /build/stratum-guard policy default >/dev/null

FROM debian:12-slim
# Runtime libraries only, the packages of what `ldd stratum-guard` lists, from
# image/runtime-packages: the one list `make image` installs too (the manifests_ tests check it
# against the binary). Boost (Beast, Asio), RapidJSON and CLI11 are header-only; libc6,
# libgcc-s1 and libstdc++6 are already in the base image.
COPY image/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      $(grep -v '^[[:space:]]*\(#\|$\)' /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages
COPY --from=build /build/stratum-guard /usr/local/bin/stratum-guard
# Fail the build, not the first pod, when a shared library is missing.
RUN if ldd /usr/local/bin/stratum-guard | grep 'not found'; then exit 1; fi \
 && stratum-guard policy default >/dev/null
# The OCI annotations image/build.sh writes, as labels (docker build has no manifest annotations).
ARG COMMIT=unknown
ARG VERSION=0.1.0
LABEL org.opencontainers.image.source="https://github.com/stratum-guard/stratum-guard" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.version="${VERSION}"
# A numeric user (65532, as in distroless' nonroot) so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["stratum-guard"]
CMD ["serve"]
