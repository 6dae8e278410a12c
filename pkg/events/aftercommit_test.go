package events_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// A handler's after-commit hook runs once what the handler wrote is visible to others (a worker
// it wakes must find its work), and not at all when the event was applied before.
func TestAfterCommitRunsOnceTheEventIsCommitted(t *testing.T) {
	ran := false
	events.AfterCommit(context.Background(), func() { ran = true })
	if !ran {
		t.Fatal("outside a handler, AfterCommit runs its function at once")
	}

	h := newHarness(t)
	hooks := 0
	seen := -1
	spec := h.consumerSpec()
	spec.Durable = "test-after-commit"
	spec.Handlers = []events.Handler{events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.AccountCreated) error {
		events.AfterCommit(ctx, func() {
			hooks++
			seen = h.times(ev.GetEventId()) // another connection: only committed rows
		})
		_, err := tx.Exec(ctx, `INSERT INTO received (event_id, account_id, times) VALUES ($1, $2, 1)`, ev.GetEventId(), ev.GetAccountId())
		return err
	})}
	c, err := events.NewConsumer(h.js, h.db.Pool, h.log, spec)
	if err != nil {
		t.Fatal(err)
	}
	account := uuid.NewString()
	ev := &orgv1.AccountCreated{EventId: uuid.NewString(), AccountId: account}
	data, _ := proto.Marshal(ev)
	subject, _ := events.SubjectOf(ev)
	d := events.Delivery{EventID: ev.EventId, AccountID: account, Subject: subject, Type: "orgplane.org.v1.AccountCreated", Data: data}
	for range 2 {
		if _, err := c.Apply(h.ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if hooks != 1 || seen != 1 {
		t.Fatalf("hook ran %d times and saw the handler's row %d times; want once, after the commit", hooks, seen)
	}
}
