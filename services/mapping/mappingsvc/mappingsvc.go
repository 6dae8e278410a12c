// Package mappingsvc is the mapping service as a component: its cmd runs it alone, the dev
// stack and whole-suite tests compose it with the others.
//
// The mapping service owns links between Orgplane organizations and their twins in integrated tools, and imports. Its schema, outbox relay, gRPC server, health and
// metrics run today; its API arrives with the issue that builds it.
package mappingsvc

import (
	"context"

	"github.com/orgplane/orgplane/pkg/platform"
)

// Spec describes the mapping service to the platform.
func Spec() platform.Spec {
	return platform.Spec{
		Name:             "mapping",
		DefaultGRPCAddr:  ":9102",
		DefaultAdminAddr: ":9202",
		New: func(context.Context, platform.Deps) ([]platform.Worker, error) {
			return nil, nil
		},
	}
}
