// Package devkit holds what only development and tests need, kept out of the production modules:
// finding or starting a private PostgreSQL (pgcluster), an embedded NATS JetStream server
// (natsserver), and the test kit built on them (testkit: a database per test, embedded NATS,
// in-process gRPC). Nothing a service runs in production imports it.
package devkit
