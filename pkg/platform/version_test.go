package platform_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/platform"
)

const versionPkg = "github.com/orgplane/orgplane/pkg/version"

// buildVersioned builds testdata/versioned, a service on platform.Main, stamped the way the
// Makefile stamps release binaries.
func buildVersioned(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "versioned")
	ldflags := "-X " + versionPkg + ".version=0.1.0 -X " + versionPkg + ".revision=abcdef1234567890 -X " +
		versionPkg + ".buildTime=2025-06-01T12:00:00Z"
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "./testdata/versioned").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// --version and the version command print the stamped build and exit 0 without any
// configuration (no database URL, no keys).
func TestServiceBinaryAnswersVersion(t *testing.T) {
	bin := buildVersioned(t)
	want := "versioned 0.1.0 (rev abcdef1, built 2025-06-01T12:00:00Z, " + runtime.Version() + ")\n"
	for _, args := range [][]string{{"--version"}, {"-v"}, {"version"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v (stderr %q)", args, err, stderr.String())
		}
		if stdout.String() != want {
			t.Errorf("%v printed %q, want %q", args, stdout.String(), want)
		}
	}
}

// The migrate command needs the database and nothing else: the migration Job holds the DDL login
// and no identity keys. Serving without them is refused, naming the setting.
func TestMigrateNeedsNoIdentityKeysButServingDoes(t *testing.T) {
	bin := buildVersioned(t)
	spec := platform.Spec{Name: "versioned"}
	db := testkit.NewDB(t, spec.Schema(), spec.Role())
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ORGPLANE_DATABASE_URL=" + db.URL}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("migrate"); err != nil {
		t.Fatalf("migrate without identity keys: %v\n%s", err, out)
	}
	out, err := run()
	if err == nil || !strings.Contains(out, "ORGPLANE_IDENTITY_KEYS is required to serve") {
		t.Fatalf("serving without identity keys: %v\n%s\nwant a refusal naming ORGPLANE_IDENTITY_KEYS", err, out)
	}
}

// A serving service exports build_info with its build as labels on its admin /metrics.
func TestServiceMetricsCarryBuildInfo(t *testing.T) {
	bin := buildVersioned(t)
	spec := platform.Spec{Name: "versioned", New: func(context.Context, platform.Deps) (platform.Parts, error) {
		return platform.Parts{}, nil
	}}
	db := testkit.NewDB(t, spec.Schema(), spec.Role())
	n := testkit.StartNATS(t)
	perms, err := platform.NATSPermissions(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	nats := n.As(t, spec.Name, perms)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	admin := freeAddr(t)

	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"),
		"ORGPLANE_DATABASE_URL=" + db.URL, "ORGPLANE_MIGRATE_ON_START=true",
		"ORGPLANE_IDENTITY_KEYS=k1:" + base64.StdEncoding.EncodeToString(secret),
		"ORGPLANE_NATS_URL=" + nats.URL, "ORGPLANE_NATS_CREDS=" + nats.CredsFile,
		"ORGPLANE_ADMIN_ADDR=" + admin}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("service output:\n%s", logs.String())
		}
	})

	line := regexp.MustCompile(`(?m)^build_info\{(.*)\} 1$`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("the service exited: %v", err)
		default:
		}
		if m := line.FindStringSubmatch(scrape(admin)); m != nil {
			for _, want := range []string{`version="0.1.0"`, `revision="abcdef1"`, `go_version="` + runtime.Version() + `"`} {
				if !strings.Contains(m[1], want) {
					t.Errorf("build_info{%s} lacks %s", m[1], want)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no build_info on http://%s/metrics:\n%s", admin, scrape(admin))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func scrape(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// freeAddr is a loopback address free a moment ago, for a child process to listen on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
