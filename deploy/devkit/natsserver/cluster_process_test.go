package natsserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/orgplane/orgplane/deploy/devkit/natsserver"
	"github.com/orgplane/orgplane/pkg/events"
)

// TestMain hosts the process nodes itself rather than through testkit.Main, which would also
// bring up a Postgres these tests do not use.
func TestMain(m *testing.M) {
	if natsserver.RunNodeFromEnv() {
		return
	}
	os.Exit(m.Run())
}

// A node of a process cluster SIGKILLed while it leads an R3 stream: another node takes the stream
// over, publishing goes on, and the node restarted on its store catches up; every acknowledged
// message is in the stream exactly once.
func TestAKilledNodeLosesNoAcknowledgedMessage(t *testing.T) {
	auth, err := natsserver.NewAuth()
	if err != nil {
		t.Fatal(err)
	}
	c, err := natsserver.StartCluster(natsserver.ClusterOptions{Dir: t.TempDir(), Auth: auth, Processes: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	leaders := 0
	for i := range c.Size() {
		if c.Server(i) != nil {
			t.Fatalf("node %d runs in this process", i)
		}
		if c.IsMetaLeader(i) {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d nodes lead the meta group, want 1", leaders)
	}

	admin := filepath.Join(t.TempDir(), "admin.creds")
	if err := auth.WriteCreds(admin, "test-admin", natsserver.Everything(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	nc, js, err := events.Connect(events.NATSConfig{URL: c.URL(), CredsFile: admin}, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const stream = "KILLED"
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{"killed.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}

	var acked []string
	publish := func(phase string, n int) {
		t.Helper()
		for i := range n {
			id := fmt.Sprintf("%s-%d", phase, i)
			// Retried under its id until acknowledged: the stream keeps it once.
			deadline := time.Now().Add(time.Minute)
			for {
				pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := js.Publish(pctx, "killed."+phase, []byte(id), jetstream.WithMsgID(id))
				cancel()
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("publish %s: %v", id, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			acked = append(acked, id)
		}
	}
	publish("before", 50)
	info := waitStream(t, ctx, js, stream, "", nil)
	leader := info.Cluster.Leader
	killed := c.Node(leader)
	if killed < 0 {
		t.Fatalf("stream led by %q, no node of the cluster", leader)
	}

	killedAt := time.Now()
	if err := c.Kill(killed); err != nil {
		t.Fatal(err)
	}
	// Gone at once: nothing listens on its client port any more.
	if conn, err := net.Dial("tcp", hostPort(c, killed)); err == nil {
		conn.Close()
		t.Fatalf("node %s still accepts connections after Kill", leader)
	}
	if err := c.Kill(killed); err == nil {
		t.Error("killing a node that is down did not fail")
	}
	info = waitStream(t, ctx, js, stream, leader, nil)
	t.Logf("%s SIGKILLed; stream %s led by %s %s later", leader, stream, info.Cluster.Leader, time.Since(killedAt).Round(time.Millisecond))
	publish("during", 50)

	if err := c.Restart(killed); err != nil {
		t.Fatal(err)
	}
	info = waitStream(t, ctx, js, stream, "", func(ci *jetstream.ClusterInfo) bool {
		if len(ci.Replicas) != 2 {
			return false
		}
		back := ci.Leader == leader
		for _, p := range ci.Replicas {
			if !p.Current || p.Offline {
				return false
			}
			back = back || p.Name == leader
		}
		return back
	})
	if info.State.Msgs != uint64(len(acked)) {
		t.Errorf("stream holds %d messages, %d were acknowledged", info.State.Msgs, len(acked))
	}
	if got := readAll(t, ctx, js, stream, info.State.Msgs); !slices.Equal(got, acked) {
		t.Errorf("stream holds %v, want the acknowledged %v in order", got, acked)
	}
}

// waitStream waits until stream has a leader other than not and cluster info ok accepts (nil:
// any), and returns its info.
func waitStream(t *testing.T, ctx context.Context, js jetstream.JetStream, stream, not string, ok func(*jetstream.ClusterInfo) bool) *jetstream.StreamInfo {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := js.Stream(ictx, stream)
		var info *jetstream.StreamInfo
		if err == nil {
			info, err = s.Info(ictx)
		}
		cancel()
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" && info.Cluster.Leader != not &&
			(ok == nil || ok(info.Cluster)) {
			return info
		}
		if time.Now().After(deadline) {
			var ci *jetstream.ClusterInfo
			if info != nil {
				ci = info.Cluster
			}
			t.Fatalf("stream %s: no leader other than %q, or not as wanted, after a minute: %+v (%v)", stream, not, ci, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readAll reads the stream's n messages in order.
func readAll(t *testing.T, ctx context.Context, js jetstream.JetStream, stream string, n uint64) []string {
	t.Helper()
	oc, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for uint64(len(got)) < n {
		before := len(got)
		batch, err := oc.Fetch(int(n)-len(got), jetstream.FetchMaxWait(5*time.Second))
		if err == nil {
			for m := range batch.Messages() {
				got = append(got, string(m.Data()))
			}
			err = batch.Error()
		}
		if len(got) > before {
			continue
		}
		// Each Fetch makes a new consumer and asks it at once, maybe before this connection's
		// node has heard of it ("no responders"); the next one resumes after the last read.
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d messages: %v", len(got), n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return got
}

// hostPort is node i's client address, from the cluster's URL list.
func hostPort(c *natsserver.Cluster, i int) string {
	return strings.TrimPrefix(strings.Split(c.URL(), ",")[i], "nats://")
}
