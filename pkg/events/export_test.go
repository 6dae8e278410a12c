package events

// RefreshProbesEveryCollection makes the metrics' probes read afresh on every collection, for
// tests that watch a value change, until the test ends.
func RefreshProbesEveryCollection(t interface{ Cleanup(func()) }) {
	outbox, consumer := outboxProbeTTL, consumerProbeTTL
	outboxProbeTTL, consumerProbeTTL = 0, 0
	t.Cleanup(func() { outboxProbeTTL, consumerProbeTTL = outbox, consumer })
}
