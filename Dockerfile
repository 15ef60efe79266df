# syntax=docker/dockerfile:1
# The preflight image the Kubernetes manifests in deploy/k8s use. The build stage takes the README's install steps
# (Debian, Swift 6.3, libsqlite3-dev, zlib1g-dev, libsnappy-dev; Chromium is only for the report tests) and its release build; the
# runtime stage is Swift's slim image with the SQLite, zlib and snappy libraries preflight links.
FROM swift:6.3-bookworm AS build
RUN apt-get update && apt-get install -y libsqlite3-dev zlib1g-dev libsnappy-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product preflight

FROM swift:6.3-bookworm-slim
RUN apt-get update && apt-get install -y libsqlite3-0 zlib1g libsnappy1v5 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/.build/release/preflight /usr/local/bin/preflight
COPY scenarios /scenarios
USER nobody
ENTRYPOINT ["preflight"]
CMD ["--help"]
