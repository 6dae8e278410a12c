// Package integrationsyncsvc is the integration-sync service as a component: its cmd runs it alone, the dev
// stack and whole-suite tests compose it with the others.
//
// The integration-sync service owns integrations with IT Glue, ConnectWise PSA and Autotask, their cached external organizations and two-way sync. Its schema, outbox relay, gRPC server, health and
// metrics run today; its API arrives with the issue that builds it.
package integrationsyncsvc

import (
	"context"

	"github.com/orgplane/orgplane/pkg/platform"
)

// Spec describes the integration-sync service to the platform.
func Spec() platform.Spec {
	return platform.Spec{
		Name:             "integration-sync",
		DefaultGRPCAddr:  ":9103",
		DefaultAdminAddr: ":9203",
		New: func(context.Context, platform.Deps) (platform.Parts, error) {
			return platform.Parts{}, nil
		},
	}
}
