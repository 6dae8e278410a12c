// Command integration-sync runs the integration-sync service: integrations with IT Glue, ConnectWise PSA and Autotask, their cached external organizations and two-way sync.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/services/integration-sync/integrationsyncsvc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(platform.Main(ctx, integrationsyncsvc.Spec(), os.Stdout))
}
