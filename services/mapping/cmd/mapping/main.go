// Command mapping runs the mapping service: links between Orgplane organizations and their twins in integrated tools, and imports.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/services/mapping/mappingsvc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(platform.Main(ctx, mappingsvc.Spec(), os.Stdout))
}
