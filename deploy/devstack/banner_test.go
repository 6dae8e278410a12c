package main

import (
	"strings"
	"testing"

	"github.com/orgplane/orgplane/deploy/devstack/stack"
)

// The dev stack's gRPC is plaintext; the banner says so, and says louder when it is not on
// loopback.
func TestBannerSaysHowServicesTalk(t *testing.T) {
	st := &stack.Stack{GatewayURL: "http://127.0.0.1:8080", ServiceAddrs: map[string]string{"org": "127.0.0.1:9101"}}
	for host, want := range map[string]string{
		"127.0.0.1": "gRPC between services: plaintext on loopback",
		"::1":       "gRPC between services: plaintext on loopback",
		"localhost": "gRPC between services: plaintext on loopback",
		"0.0.0.0":   "gRPC between services: PLAINTEXT on 0.0.0.0 (not loopback",
	} {
		var b strings.Builder
		banner(&b, st, host, "op_x", "")
		if !strings.Contains(b.String(), want) {
			t.Errorf("host %s: banner lacks %q:\n%s", host, want, b.String())
		}
	}
}
