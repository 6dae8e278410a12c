package platform

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"

	"google.golang.org/grpc"

	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/rpc"
)

// NATSPermissions are the NATS rights s needs and no more (events.ServicePermissions): publish
// its own subjects and manage its own stream, run its own durable consumers, read its own
// inbox. The dev stack and tests mint each service's credential from them; docs/events.md lists
// them for production, where a platform team mints them with nsc.
//
// The durables come from the service itself: s.New is run with inert dependencies (no database,
// no NATS, peers that are never dialled, a gRPC server that never serves), which Spec.New's
// contract allows.
func NATSPermissions(ctx context.Context, s Spec) (events.Permissions, error) {
	quiet := slog.New(slog.DiscardHandler)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	keys, err := identity.ParseKeyring("inert:" + base64.StdEncoding.EncodeToString(secret))
	if err != nil {
		return events.Permissions{}, err
	}
	srv, err := rpc.NewServer(quiet, keys)
	if err != nil {
		return events.Permissions{}, err
	}
	peers := map[string]*grpc.ClientConn{}
	for _, p := range s.Peers {
		peers[p.Name] = nil
	}
	parts, err := s.New(ctx, Deps{Log: quiet, Keys: keys, Server: srv, Peers: peers})
	if err != nil {
		return events.Permissions{}, fmt.Errorf("%s: %w", s.Name, err)
	}
	streams, err := s.Streams()
	if err != nil {
		return events.Permissions{}, fmt.Errorf("%s: %w", s.Name, err)
	}
	p, err := events.ServicePermissions(s.Name, streams, parts.Consumers)
	if err != nil {
		return events.Permissions{}, fmt.Errorf("%s: %w", s.Name, err)
	}
	return p, nil
}
