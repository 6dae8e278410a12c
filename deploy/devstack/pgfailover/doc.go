// Package pgfailover holds the failover proof of the whole suite (issue 20): the services, run
// in-process on a synchronously replicated PostgreSQL pair through a multi-host URL, lose no
// acknowledged write when the primary crashes and the standby is promoted, answer only 503
// (retryable) meanwhile, and carry on, events included, without a restart. Its test is the
// proof; the package has no code of its own.
package pgfailover
