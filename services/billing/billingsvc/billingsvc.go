// Package billingsvc is the billing service as a component: its cmd runs it alone, the dev
// stack and whole-suite tests compose it with the others.
//
// The billing service owns subscriptions, licenses and usage. Its schema, outbox relay, gRPC server, health and
// metrics run today; its API arrives with the issue that builds it.
package billingsvc

import (
	"context"

	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/platform"
)

// Spec describes the billing service to the platform.
func Spec() platform.Spec {
	return platform.Spec{
		Name:             "billing",
		DefaultGRPCAddr:  ":9105",
		DefaultAdminAddr: ":9205",
		Streams:          events.StreamsOf("billing"),
		New: func(context.Context, platform.Deps) ([]platform.Worker, error) {
			return nil, nil
		},
	}
}
