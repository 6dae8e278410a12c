package version_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/pkg/version"
)

// The Makefile's stamping: a binary linked with -X reports exactly what it was given.
func TestLinkerStampsTheBuild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "printversion")
	const pkg = "github.com/orgplane/orgplane/pkg/version"
	ldflags := "-X " + pkg + ".version=1.2.3 -X " + pkg + ".revision=0123456789abcdef0123456789abcdef01234567 -X " +
		pkg + ".modified=true -X " + pkg + ".buildTime=2025-01-02T03:04:05Z"
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "./testdata/printversion").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	got := run(t, bin)
	want := version.Info{Version: "1.2.3", Revision: "0123456789abcdef0123456789abcdef01234567", Modified: true,
		BuildTime: "2025-01-02T03:04:05Z", GoVersion: got.GoVersion}
	if got != want || !strings.HasPrefix(got.GoVersion, "go") {
		t.Fatalf("stamped binary reports %+v, want %+v", got, want)
	}
	if s := got.String("org"); s != "org 1.2.3 (rev 0123456-dirty, built 2025-01-02T03:04:05Z, "+got.GoVersion+")" {
		t.Errorf("String = %q", s)
	}

	// Unstamped, with the toolchain's VCS stamping off: no revision, and "devel" rather than
	// an empty version.
	plain := filepath.Join(t.TempDir(), "plain")
	if out, err := exec.Command("go", "build", "-buildvcs=false", "-o", plain, "./testdata/printversion").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if got := run(t, plain); got.Version != "devel" || got.Revision != "" || got.BuildTime != "" {
		t.Fatalf("unstamped binary reports %+v, want devel without revision or build time", got)
	}
}

func run(t *testing.T, bin string) version.Info {
	t.Helper()
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	var info version.Info
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return info
}

func TestStringOfAnUnstampedBuild(t *testing.T) {
	t.Parallel()
	got := version.Info{Version: "devel", GoVersion: runtime.Version()}.String("gateway")
	if got != "gateway devel ("+runtime.Version()+")" {
		t.Fatalf("String = %q", got)
	}
	got = version.Info{Version: "0.1.0", Revision: "abcdef1234", GoVersion: "go1.26.0"}.String("org")
	if got != "org 0.1.0 (rev abcdef1, go1.26.0)" {
		t.Fatalf("String = %q", got)
	}
}
