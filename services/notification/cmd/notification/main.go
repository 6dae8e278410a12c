// Command notification runs the notification service: email and in-app notifications about ownership and review changes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/services/notification/notificationsvc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(platform.Main(ctx, notificationsvc.Spec(), os.Stdout))
}
