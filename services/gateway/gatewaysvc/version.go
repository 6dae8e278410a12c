package gatewaysvc

import (
	"encoding/json"
	"net/http"

	"github.com/orgplane/orgplane/pkg/version"
)

// serveVersion answers GET /version with the gateway's build as JSON (version, revision,
// modified, buildTime, goVersion). It is public like /openapi.json: the build is what a client
// or an operator reports in a bug, and /metrics already carries it as build_info. The build is
// the gateway's own; each service reports its own in its build_info.
func serveVersion(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	// A rolled-out gateway answers with its new build at once, never a cached old one.
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(version.Get())
}
