// Package notificationsvc is the notification service as a component: its cmd runs it alone, the dev
// stack and whole-suite tests compose it with the others.
//
// The notification service owns email and in-app notifications about ownership and review changes. Its schema, outbox relay, gRPC server, health and
// metrics run today; its API arrives with the issue that builds it.
package notificationsvc

import (
	"context"

	"github.com/orgplane/orgplane/pkg/platform"
)

// Spec describes the notification service to the platform.
func Spec() platform.Spec {
	return platform.Spec{
		Name:             "notification",
		DefaultGRPCAddr:  ":9104",
		DefaultAdminAddr: ":9204",
		New: func(context.Context, platform.Deps) (platform.Parts, error) {
			return platform.Parts{}, nil
		},
	}
}
