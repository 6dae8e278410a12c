package gatewaysvc_test

import (
	"encoding/json"
	"net/http"
	"runtime"
	"testing"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/version"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

// GET /version answers without a credential with the gateway's build, as pkg/version reads it.
func TestVersionRouteReportsTheBuild(t *testing.T) {
	gw := startGateway(t, gatewaysvc.Config{Keys: testkit.Keyring(t),
		Upstreams: []gatewaysvc.Upstream{{Name: "org", Addr: closedAddr(t)}}}, nil)
	resp, err := http.Get(gw.URL + "/version")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /version = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	want := version.Get()
	if body["version"] != want.Version || body["goVersion"] != runtime.Version() || body["revision"] != want.Revision {
		t.Fatalf("GET /version = %v, want %+v", body, want)
	}
	post, err := http.Post(gw.URL+"/version", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode == http.StatusOK {
		t.Fatal("POST /version = 200, want a refusal")
	}
}
