package events_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/orgplane/orgplane/deploy/devkit/natsserver"
	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// startCluster runs a three-node JetStream cluster for t and returns an administrator's
// connection to it, given every node's URL.
func startCluster(t *testing.T) (*natsserver.Cluster, jetstream.JetStream) {
	t.Helper()
	auth, err := natsserver.NewAuth()
	if err != nil {
		t.Fatal(err)
	}
	c, err := natsserver.StartCluster(natsserver.ClusterOptions{Dir: t.TempDir(), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	admin := filepath.Join(t.TempDir(), "admin.creds")
	if err := auth.WriteCreds(admin, "test-admin", natsserver.Everything(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	nc, js, err := events.Connect(events.NATSConfig{URL: c.URL(), CredsFile: admin}, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return c, js
}

// waitReplicated waits until stream is kept by n servers, every follower current with the
// leader, and returns its info.
func waitReplicated(t *testing.T, js jetstream.JetStream, stream string, n int) *jetstream.StreamInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := js.Stream(ctx, stream)
		var info *jetstream.StreamInfo
		if err == nil {
			info, err = s.Info(ctx)
		}
		cancel()
		if err == nil && info.Config.Replicas == n && info.Cluster != nil && info.Cluster.Leader != "" &&
			len(info.Cluster.Replicas) == n-1 {
			current := true
			for _, p := range info.Cluster.Replicas {
				current = current && p.Current && !p.Offline
			}
			if current {
				return info
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s is not kept by %d current servers: %+v (%v)", stream, n, info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Issue 20: a deployment that grows from one NATS server (or R1 streams) to a cluster raises
// ORGPLANE_NATS_STREAM_REPLICAS, and the services' next start scales their existing streams up,
// events and consumers included; a count the cluster cannot place is refused naming the setting.
func TestStreamsScaleUpOnACluster(t *testing.T) {
	c, js := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	streams, err := events.StreamsOf(&orgv1.AccountCreated{})
	if err != nil {
		t.Fatal(err)
	}
	org := streams[0].Name
	if err := events.EnsureStreams(ctx, js, streams...); err != nil {
		t.Fatal(err)
	}
	if err := events.EnsureDeadLetterStream(ctx, js); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t, js, org, 1)
	for i := range 10 {
		if _, err := js.Publish(ctx, "orgplane.org.v1._.account.created", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, org, jetstream.ConsumerConfig{Durable: "test-reader", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}

	if err := events.EnsureReplicatedStreams(ctx, js, 3, streams...); err != nil {
		t.Fatalf("scaling an R1 stream to 3 replicas: %v", err)
	}
	if err := events.EnsureReplicatedDeadLetterStream(ctx, js, 3); err != nil {
		t.Fatalf("scaling the dead-letter stream to 3 replicas: %v", err)
	}
	info := waitReplicated(t, js, org, 3)
	if info.State.Msgs != 10 {
		t.Fatalf("%s holds %d events after scaling up, want the 10 it had", org, info.State.Msgs)
	}
	waitReplicated(t, js, events.DeadLetterStream, 3)
	for deadline := time.Now().Add(20 * time.Second); ; {
		cons, err := js.Consumer(ctx, org, "test-reader")
		if err != nil {
			t.Fatal(err)
		}
		ci := cons.CachedInfo()
		if ci.Cluster != nil && len(ci.Cluster.Replicas) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the durable consumer was not scaled with its stream: %+v %d", ci.Cluster, ci.Config.Replicas)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Ensuring again as every restart does changes nothing.
	if err := events.EnsureReplicatedStreams(ctx, js, 3, streams...); err != nil {
		t.Fatal(err)
	}

	for _, ensure := range []struct {
		name string
		run  func() error
	}{
		{"the service's stream", func() error { return events.EnsureReplicatedStreams(ctx, js, c.Size()+2, streams...) }},
		{"the dead-letter stream", func() error { return events.EnsureReplicatedDeadLetterStream(ctx, js, c.Size()+2) }},
	} {
		err := ensure.run()
		t.Logf("%s, 5 replicas on 3 servers: %v", ensure.name, err)
		if err == nil || !strings.Contains(err.Error(), "ORGPLANE_NATS_STREAM_REPLICAS=5") ||
			!strings.Contains(err.Error(), "at most the cluster's size") {
			t.Errorf("%s with 5 replicas on 3 servers: %v; want a refusal naming ORGPLANE_NATS_STREAM_REPLICAS and the cluster's size", ensure.name, err)
		}
	}
	waitReplicated(t, js, org, 3)
	if err := events.EnsureReplicatedStreams(ctx, js, 6, streams...); err == nil || !strings.Contains(err.Error(), "want 1 to 5") {
		t.Errorf("6 replicas: %v", err)
	}
}

// A single server keeps one copy; asking for more says which setting to change.
func TestReplicasOnASingleServerAreRefusedNamingTheSetting(t *testing.T) {
	bus := testkit.StartNATS(t)
	nc, js, err := events.Connect(bus.Admin(), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	streams, err := events.StreamsOf(&orgv1.AccountCreated{})
	if err != nil {
		t.Fatal(err)
	}
	err = events.EnsureReplicatedStreams(ctx, js, 3, streams...)
	if err == nil || !strings.Contains(err.Error(), "ORGPLANE_NATS_STREAM_REPLICAS=3") || !strings.Contains(err.Error(), "single server") {
		t.Errorf("3 replicas on one server: %v", err)
	}
	if err := events.EnsureReplicatedStreams(ctx, js, 1, streams...); err != nil {
		t.Fatal(err)
	}
}

func TestStreamReplicasOutOfRangeIsAConfigurationError(t *testing.T) {
	t.Parallel()
	for _, n := range []int{-1, 6} {
		_, _, err := events.Connect(events.NATSConfig{URL: "nats://127.0.0.1:1", CredsFile: "x.creds", StreamReplicas: n}, "org",
			slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "ORGPLANE_NATS_STREAM_REPLICAS") {
			t.Errorf("%d replicas: %v; want an error naming ORGPLANE_NATS_STREAM_REPLICAS", n, err)
		}
	}
}
