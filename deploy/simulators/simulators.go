// Package simulators runs the simulated vendor tools together: IT Glue, ConnectWise PSA,
// Autotask PSA and a generic JSON tool, each a real HTTP server on its own port speaking its
// vendor's wire format, seeded with the same MSP clients spelled each tool's way. The dev stack
// and the whole-suite tests start them through Start; `go run ./deploy/simulators/cmd/simulators`
// runs them alone.
package simulators

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators/autotask"
	"github.com/orgplane/orgplane/deploy/simulators/connectwise"
	"github.com/orgplane/orgplane/deploy/simulators/generic"
	"github.com/orgplane/orgplane/deploy/simulators/itglue"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

// The simulated tenants' credentials. They are the dev stack's, printed in its banner: these
// tools exist only on the developer's machine.
const (
	ITGlueAPIKey            = "itg-dev-0f4c2a7e9b1d"
	ConnectWiseCompanyID    = "orgplanedev"
	ConnectWisePublicKey    = "cwpub-dev-5d1e"
	ConnectWisePrivateKey   = "cwpriv-dev-8a3f2c"
	ConnectWiseClientID     = "6f1b7c0e-3a52-4d8e-9c1a-2b7f0d4e8a61"
	AutotaskAPIUser         = "orgplane.dev@example.com"
	AutotaskSecret          = "at-secret-dev-7e2b"
	AutotaskIntegrationCode = "ATDEVTRACKING0001"
	GenericToken            = "generic-dev-token-3c9e"
	// WebhookSecret signs the PSA simulators' webhook deliveries.
	WebhookSecret = "whsec-dev-4b8d1f"
)

// Options say where the simulators listen and what they hold.
type Options struct {
	// Host is the interface to bind ("127.0.0.1").
	Host string
	// Ports by tool name ("itglue", "connectwise", "autotask", "generic"); 0 or absent picks one.
	Ports map[string]int
	// Seed fills each tool with Companies realistic clients (0: empty tools).
	Companies int
}

// Tool is one running simulator.
type Tool struct {
	Name string
	URL  string
	Sim  *simkit.Tool
	srv  *http.Server
}

// Set is the running simulators.
type Set struct {
	ITGlue, ConnectWise, Autotask, Generic Tool
}

// Tools lists them.
func (s *Set) Tools() []Tool { return []Tool{s.ITGlue, s.ConnectWise, s.Autotask, s.Generic} }

// Start starts the four simulators and returns once they listen; they stop when ctx ends.
func Start(ctx context.Context, o Options) (*Set, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	it := itglue.New(itglue.Options{APIKey: ITGlueAPIKey})
	cw := connectwise.New(connectwise.Options{CompanyID: ConnectWiseCompanyID, PublicKey: ConnectWisePublicKey,
		PrivateKey: ConnectWisePrivateKey, ClientID: ConnectWiseClientID})
	at := autotask.New(autotask.Options{APIUser: AutotaskAPIUser, Secret: AutotaskSecret, IntegrationCode: AutotaskIntegrationCode})
	gen := generic.New(generic.Options{Token: GenericToken})
	if o.Companies > 0 {
		base := simkit.BaseNames(o.Companies, 42)
		it.SeedDefault(base)
		cw.SeedDefault(base)
		at.SeedDefault(base)
		gen.SeedDefault(base)
	}
	set := &Set{}
	start := func(name string, h http.Handler, sim *simkit.Tool) (Tool, error) {
		l, err := net.Listen("tcp", net.JoinHostPort(o.Host, fmt.Sprint(o.Ports[name])))
		if err != nil {
			return Tool{}, fmt.Errorf("%s simulator: %w", name, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				_ = l.Close()
			}
		}()
		return Tool{Name: name, URL: "http://" + l.Addr().String(), Sim: sim, srv: srv}, nil
	}
	var err error
	if set.ITGlue, err = start("itglue", it, it.Tool()); err != nil {
		return nil, err
	}
	if set.ConnectWise, err = start("connectwise", cw, cw.Tool()); err != nil {
		set.stop()
		return nil, err
	}
	if set.Autotask, err = start("autotask", at, at.Tool()); err != nil {
		set.stop()
		return nil, err
	}
	if set.Generic, err = start("generic", gen, gen.Tool()); err != nil {
		set.stop()
		return nil, err
	}
	context.AfterFunc(ctx, set.stop)
	return set, nil
}

func (s *Set) stop() {
	for _, t := range s.Tools() {
		if t.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = t.srv.Shutdown(ctx)
			cancel()
		}
	}
}
