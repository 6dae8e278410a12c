package rpc

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// Target is where a client finds the replicas of a service, in one of the forms Kubernetes and
// a developer's machine give:
//
//   - host:port, one address; its host is looked up in DNS, and every address the name has
//     takes calls ("org:9101", "127.0.0.1:9101").
//   - host:port,host:port,... the replicas listed, each taking calls ("10.0.0.5:9101,10.0.0.6:9101").
//   - a gRPC target URI whose scheme names a resolver, most often a headless Service through
//     gRPC's dns resolver ("dns:///org-headless.orgplane.svc:9101"), which looks the name up
//     again whenever a connection ends: when a replica goes, and at the servers' connection age
//     limit (DefaultMaxConnectionAge), so replicas added by scaling out take calls too.
//
// Calls spread over the replicas round robin and skip one that cannot be reached.
type Target struct {
	// URI is the target dialed; for a list it names the static resolver Dial installs.
	URI string
	// Addrs are a list's replicas, host:port each; empty for the other forms.
	Addrs []string
}

// staticScheme is the resolver scheme of a listed target: a resolver of its own per
// connection, never registered globally.
const staticScheme = "orgplane-replicas"

// roundRobin spreads calls over every replica that is ready. gRPC's default (pick_first) sends
// every call to one replica until it fails, which leaves the others idle and turns a headless
// Service's many addresses into one.
const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// ParseTarget reads an address in one of Target's forms; errors say what is wrong with it.
func ParseTarget(addr string) (Target, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return Target{}, errors.New("empty address: want host:port, a comma-separated list of host:port, or a target such as dns:///name:port")
	}
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return Target{}, fmt.Errorf("%q is not a target URI: %w", addr, err)
		}
		if u.Scheme == staticScheme || resolver.Get(u.Scheme) == nil {
			return Target{}, fmt.Errorf("%q: unknown scheme %q (dns:///name:port follows a name's addresses; or list host:port separated by commas)", addr, u.Scheme)
		}
		if strings.Contains(addr, ",") {
			return Target{}, fmt.Errorf("%q: a target URI names one service; list replicas as host:port separated by commas, without a scheme", addr)
		}
		return Target{URI: addr}, nil
	}
	parts := strings.Split(addr, ",")
	seen := make(map[string]bool, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if err := checkHostPort(p); err != nil {
			if len(parts) == 1 {
				return Target{}, err
			}
			return Target{}, fmt.Errorf("replica %d of %q: %w", i+1, addr, err)
		}
		if seen[p] {
			return Target{}, fmt.Errorf("%q lists %s twice", addr, p)
		}
		seen[p] = true
		parts[i] = p
	}
	if len(parts) == 1 {
		// One address dials as it always has: gRPC's default dns scheme, which also gives
		// round robin every address a name has.
		return Target{URI: parts[0]}, nil
	}
	return Target{Addrs: parts}, nil
}

func checkHostPort(hp string) error {
	if hp == "" {
		return errors.New("empty address: want host:port")
	}
	_, port, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf("%q is not host:port", hp)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%q: the port must be a number from 1 to 65535", hp)
	}
	return nil
}

// dialOptions are what a connection to t needs besides the caller's: round robin, and for a
// list, a resolver that hands gRPC the replicas. name (the audience, or "" for none) becomes the
// list's authority, so calls carry a service's name rather than a list of addresses.
func (t Target) dialOptions(name string) (string, []grpc.DialOption) {
	opts := []grpc.DialOption{grpc.WithDefaultServiceConfig(roundRobin)}
	if len(t.Addrs) == 0 {
		return t.URI, opts
	}
	r := manual.NewBuilderWithScheme(staticScheme)
	eps := make([]resolver.Endpoint, len(t.Addrs))
	for i, a := range t.Addrs {
		// Each replica's certificate is checked against its own host (with TLS and no
		// ORGPLANE_TLS_SERVER_NAME), not against the authority.
		eps[i] = resolver.Endpoint{Addresses: []resolver.Address{{Addr: a, ServerName: a}}}
	}
	// A connection rebuilds its resolver after idling; the state is kept for that.
	r.InitialState(resolver.State{Endpoints: eps})
	if name == "" {
		name = "replicas"
	}
	return staticScheme + ":///" + name, append(opts, grpc.WithResolvers(r))
}
