// Package version says which build of Orgplane a binary is. Release builds stamp it at link
// time (the Makefile's -ldflags -X); a plain `go build` or `go run` falls back to what the Go
// toolchain recorded in the binary, so every binary can answer --version.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Set only by the linker, for example
//
//	-ldflags "-X github.com/orgplane/orgplane/pkg/version.version=0.1.0"
//
// They are unexported so that nothing but the build can change them; -X sets only strings,
// which is why modified is "true" rather than a bool.
var (
	version   string
	revision  string
	modified  string
	buildTime string
)

// Info is a binary's build.
type Info struct {
	// Version is the release ("0.1.0"), the module version the toolchain recorded, or "devel".
	Version string `json:"version"`
	// Revision is the commit built from; empty when unknown.
	Revision string `json:"revision"`
	// Modified says the work tree had uncommitted changes.
	Modified bool `json:"modified"`
	// BuildTime is when the binary was built (RFC 3339); empty when not stamped.
	BuildTime string `json:"buildTime,omitempty"`
	// GoVersion is the toolchain that built it.
	GoVersion string `json:"goVersion"`
}

// Get returns this binary's build: what the linker stamped, else what debug.ReadBuildInfo
// holds (vcs.revision and vcs.modified, present when built inside a git checkout with
// -buildvcs on).
func Get() Info {
	info := Info{Version: version, Revision: revision, Modified: modified == "true", BuildTime: buildTime,
		GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = strings.TrimPrefix(bi.Main.Version, "v")
		}
		if info.Revision == "" {
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					info.Revision = s.Value
				case "vcs.modified":
					info.Modified = s.Value == "true"
				}
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	return info
}

// ShortRevision is the revision's first 7 characters, marked "-dirty" when Modified.
func (i Info) ShortRevision() string {
	r := i.Revision
	if len(r) > 7 {
		r = r[:7]
	}
	if r != "" && i.Modified {
		r += "-dirty"
	}
	return r
}

// String is what `program --version` prints: "org 0.1.0 (rev abcdef1, built 2025-01-02T03:04:05Z, go1.26.0)".
func (i Info) String(program string) string {
	var details []string
	if r := i.ShortRevision(); r != "" {
		details = append(details, "rev "+r)
	}
	if i.BuildTime != "" {
		details = append(details, "built "+i.BuildTime)
	}
	details = append(details, i.GoVersion)
	return program + " " + i.Version + " (" + strings.Join(details, ", ") + ")"
}
