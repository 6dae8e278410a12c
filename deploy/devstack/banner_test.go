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
		banner(&b, st, host, "op_x", "", ".run/dev-credentials")
		if !strings.Contains(b.String(), want) {
			t.Errorf("host %s: banner lacks %q:\n%s", host, want, b.String())
		}
	}
}

// The banner points at the credentials in the state folder -state named, not the default one.
func TestBannerNamesTheStateFolder(t *testing.T) {
	st := &stack.Stack{GatewayURL: "http://127.0.0.1:8080", ServiceAddrs: map[string]string{"org": "127.0.0.1:9101"}}
	var b strings.Builder
	banner(&b, st, "127.0.0.1", "op_x", "", "/tmp/elsewhere/dev-credentials")
	if !strings.Contains(b.String(), "(kept in /tmp/elsewhere/dev-credentials)") || strings.Contains(b.String(), ".run/") {
		t.Errorf("banner does not name the state folder given:\n%s", b.String())
	}
}
