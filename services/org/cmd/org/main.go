// Command org runs the org service: the registry of accounts and their client organizations.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/services/org/orgsvc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(platform.Main(ctx, orgsvc.Spec(), os.Stdout))
}
