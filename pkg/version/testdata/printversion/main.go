// Command printversion prints version.Get() as JSON, for the package's link-time stamping test.
package main

import (
	"encoding/json"
	"os"

	"github.com/orgplane/orgplane/pkg/version"
)

func main() {
	_ = json.NewEncoder(os.Stdout).Encode(version.Get())
}
