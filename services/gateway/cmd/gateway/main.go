// Command gateway runs the REST gateway in front of the Orgplane services.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
	"github.com/orgplane/orgplane/services/gateway/suite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(gatewaysvc.Main(ctx, suite.Specs(suite.Options{}), os.Stdout))
}
