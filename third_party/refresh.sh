#!/usr/bin/env bash
# Refreshes the third-party .proto files our protos import. The Buf Schema Registry is not
# reachable from CI, so these are vendored from Go modules pinned below (fetched through the
# Go module proxy) and committed. Run after changing a version, then `make generate`.
set -euo pipefail
cd "$(dirname "$0")"

GOOGLEAPIS_MOD=github.com/grpc-ecosystem/grpc-gateway/v2@v2.2.0 # last release that vendored googleapis
OPENAPIV2_MOD=github.com/grpc-ecosystem/grpc-gateway/v2@v2.33.0  # same version as the plugins
PROTOVALIDATE_MOD=github.com/bufbuild/protovalidate@v1.2.2

moddir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }

out=proto
rm -rf "$out"
mkdir -p "$out/google/api" "$out/protoc-gen-openapiv2/options" "$out/buf/validate"

g=$(moddir "$GOOGLEAPIS_MOD")/third_party/googleapis/google/api
cp "$g/annotations.proto" "$g/http.proto" "$g/field_behavior.proto" "$g/httpbody.proto" "$out/google/api/"

o=$(moddir "$OPENAPIV2_MOD")/protoc-gen-openapiv2/options
cp "$o/annotations.proto" "$o/openapiv2.proto" "$out/protoc-gen-openapiv2/options/"

v=$(moddir "$PROTOVALIDATE_MOD")/proto/protovalidate/buf/validate
cp "$v/validate.proto" "$out/buf/validate/"

chmod -R u+w "$out"
echo "third_party/proto refreshed"
