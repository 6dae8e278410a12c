// Package natscluster proves that Orgplane's events survive the loss of a NATS node: its test
// runs the suite's services in-process against a three-node JetStream cluster (every stream
// with three replicas, every service given all three URLs), writes through org's gRPC API from
// several goroutines, kills the node leading org's stream in the middle of it (SIGKILL: every
// node runs in a process of its own, so none steps down or flushes anything; the others elect new
// leaders once raft's election timeout has passed), keeps writing, brings the node back on its
// store, and counts: events published, messages in the stream by subject, events each consumer
// applied, duplicates and losses (none of either).
//
// Run it with `go test -v ./deploy/devstack/natscluster` (Postgres as for every test: see
// testkit.Main); ORGPLANE_TEST_LOG=1 shows the services' and the NATS nodes' logs.
package natscluster
