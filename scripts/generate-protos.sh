#!/usr/bin/env bash
# Generates the Swift code of Protos/*.proto with protoc (Debian protobuf-compiler) and swift-protobuf's
# protoc-gen-swift, built from the version Package.resolved pins. The output is committed: a build never needs
# protoc. Usage: scripts/generate-protos.sh [path to protoc-gen-swift]
set -euo pipefail
cd "$(dirname "$0")/.."
plugin=${1:-}
if [ -z "$plugin" ]; then
    swift build -c release --product protoc-gen-swift --package-path .build/checkouts/swift-protobuf
    plugin=.build/checkouts/swift-protobuf/.build/release/protoc-gen-swift
fi
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Package --swift_out=Sources/PreflightKit/Stream \
    --proto_path=Protos Protos/remote_write.proto
mv Sources/PreflightKit/Stream/remote_write.pb.swift Sources/PreflightKit/Stream/RemoteWrite.pb.swift
