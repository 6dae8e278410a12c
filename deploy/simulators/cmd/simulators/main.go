// Command simulators runs the simulated IT Glue, ConnectWise PSA, Autotask PSA and generic JSON
// tool alone, seeded, for trying connectors by hand. The dev stack (`make run`) starts them too.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/orgplane/orgplane/deploy/simulators"
)

func main() {
	host := flag.String("host", "127.0.0.1", "interface to listen on")
	companies := flag.Int("companies", 300, "clients to seed each tool with")
	itg := flag.Int("itglue-port", 9411, "IT Glue simulator port")
	cw := flag.Int("connectwise-port", 9412, "ConnectWise PSA simulator port")
	at := flag.Int("autotask-port", 9413, "Autotask PSA simulator port")
	gen := flag.Int("generic-port", 9414, "generic JSON tool simulator port")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	set, err := simulators.Start(ctx, simulators.Options{Host: *host, Companies: *companies,
		Ports: map[string]int{"itglue": *itg, "connectwise": *cw, "autotask": *at, "generic": *gen}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "simulators:", err)
		os.Exit(1)
	}
	for _, t := range set.Tools() {
		fmt.Printf("%-12s %s  (control API: %s/_control/stats)\n", t.Name, t.URL, t.URL)
	}
	<-ctx.Done()
}
