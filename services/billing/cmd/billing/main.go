// Command billing runs the billing service: subscriptions, licenses and usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/services/billing/billingsvc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(platform.Main(ctx, billingsvc.Spec(), os.Stdout))
}
