// Package grpcapi is the org service's gRPC transport: it turns requests into use-case calls and
// domain values into responses (through pbconv), nothing else. Validation (protovalidate),
// authentication, each RPC's declared authorization rule and error codes happen in the shared
// interceptors; the finer authorization rules in app.
package grpcapi
