// Command versioned is a service binary built on platform.Main with nothing of its own, for the
// platform's tests of --version and build_info (version_test.go), built as the Makefile builds.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/orgplane/orgplane/pkg/platform"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(platform.Main(ctx, platform.Spec{Name: "versioned", DefaultGRPCAddr: "127.0.0.1:0", DefaultAdminAddr: "off",
		New: func(context.Context, platform.Deps) (platform.Parts, error) { return platform.Parts{}, nil },
	}, os.Stdout))
}
