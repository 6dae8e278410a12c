// Package grpcapi is the org service's gRPC transport: it turns requests into use-case calls and
// domain values into responses (through pbconv), nothing else. Validation (protovalidate),
// authentication and error codes happen in the shared interceptors; authorization in app.
package grpcapi
