// Package replicas holds the test that runs two processes of every Orgplane service, as
// Kubernetes would with two replicas each, behind one gateway that spreads calls over both, on
// one Postgres and one NATS; kills one replica of each service with SIGKILL under a write load;
// and proves that no event is lost or duplicated, that consumers and scheduled work are shared
// without doing anything twice, and that an integration's rate budget holds across replicas.
package replicas
