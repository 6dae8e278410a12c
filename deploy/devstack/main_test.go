package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// TestMakeRunLifecycle runs the dev stack binary the way `make run` does, on a private
// PostgreSQL cluster as on a machine with none running, and checks it comes up, can be
// discovered with reflection, and leaves nothing behind after Ctrl-C.
func TestMakeRunLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole dev stack")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "devstack")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	state := filepath.Join(dir, "state")
	cmd := exec.Command(bin, "-postgres", "private", "-state", state,
		"-gateway-port", "0", "-service-base-port", "0", "-admin-port", "0", "-nats-port", "0", "-simulator-base-port", "0",
		"-simulator-companies", "40", "-mail-port", "0", "-smtp-port", "0", "-oidc-port", "0")
	cmd.Env = append(os.Environ(), "DATABASE_URL=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("dev stack log:\n%s", b)
		}
	})

	// The banner lists every address.
	addrs := map[string]string{}
	line := regexp.MustCompile(`^\s+(REST gateway|org|mapping|integration-sync|notification|billing|NATS|metrics|mail inbox|SMTP|OIDC provider|itglue|connectwise|autotask|generic)\s+(\S+)`)
	bootstrap := regexp.MustCompile(`^Bootstrap account ([0-9a-f-]{36}),`)
	var account, adminKey string
	keyNext := false
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(3*time.Minute, func() { _ = cmd.Process.Kill() })
	for sc.Scan() {
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			addrs[m[1]] = m[2]
		}
		if m := bootstrap.FindStringSubmatch(sc.Text()); m != nil {
			account = m[1]
		}
		if keyNext {
			adminKey, keyNext = strings.TrimSpace(sc.Text()), false
		}
		keyNext = keyNext || strings.HasPrefix(sc.Text(), "Its administrator's API key")
		if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
			break
		}
	}
	deadline.Stop()
	go func() {
		for sc.Scan() {
		}
		exited <- cmd.Wait()
	}()
	gw := addrs["REST gateway"]
	if gw == "" {
		t.Fatalf("no gateway address in banner; got %v", addrs)
	}

	resp, err := http.Get(gw + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz = %d", resp.StatusCode)
	}

	// The mail inbox shows what the SMTP server caught.
	if !strings.HasPrefix(addrs["SMTP"], "smtp://") {
		t.Errorf("no SMTP server in the banner: %v", addrs)
	}
	inbox, err := http.Get(addrs["mail inbox"] + "/api/messages")
	if err != nil {
		t.Fatalf("mail inbox: %v", err)
	}
	inbox.Body.Close()
	if inbox.StatusCode != http.StatusOK {
		t.Errorf("mail inbox /api/messages = %d", inbox.StatusCode)
	}

	var ports []string
	for name, a := range addrs {
		for _, scheme := range []string{"grpc://", "http://", "nats://", "smtp://"} {
			a = strings.TrimPrefix(a, scheme)
		}
		a = strings.TrimSuffix(a, "/metrics")
		ports = append(ports, a)
		if !strings.HasPrefix(addrs[name], "grpc://") {
			continue
		}
		services := listServices(t, a)
		for _, want := range []string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
			if !slices.Contains(services, want) {
				t.Errorf("%s: reflection lists %v, missing %s", name, services, want)
			}
		}
		if name == "org" && !slices.Contains(services, "orgplane.org.v1.AccountService") {
			t.Errorf("org: reflection lists %v, missing the AccountService", services)
		}
	}
	// The OpenID Connect provider answers its discovery document under the issuer it shows.
	var discovery struct {
		Issuer string `json:"issuer"`
	}
	if dresp, err := http.Get(addrs["OIDC provider"] + "/.well-known/openid-configuration"); err != nil {
		t.Errorf("OIDC provider: %v (banner: %v)", err, addrs)
	} else {
		err = json.NewDecoder(dresp.Body).Decode(&discovery)
		dresp.Body.Close()
		if err != nil || discovery.Issuer != addrs["OIDC provider"] {
			t.Errorf("OIDC discovery: issuer %q (%v), want %q", discovery.Issuer, err, addrs["OIDC provider"])
		}
	}

	// The bootstrap account is connected to the three simulated tools.
	for _, tool := range []string{"itglue", "connectwise", "autotask", "generic"} {
		if !strings.HasPrefix(addrs[tool], "http://") {
			t.Errorf("no %s simulator in the banner: %v", tool, addrs)
		}
	}
	req, _ := http.NewRequest("GET", gw+"/v1/accounts/"+account+"/integrations", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	iresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var integrations struct {
		Integrations []struct {
			Kind     string `json:"kind"`
			Endpoint string `json:"endpoint"`
		} `json:"integrations"`
	}
	err = json.NewDecoder(iresp.Body).Decode(&integrations)
	iresp.Body.Close()
	if err != nil || len(integrations.Integrations) != 3 {
		t.Fatalf("the bootstrap account's integrations: %v %+v", err, integrations)
	}
	for _, in := range integrations.Integrations {
		if in.Endpoint != addrs[in.Kind] {
			t.Errorf("%s integration points at %q, the simulator is at %q", in.Kind, in.Endpoint, addrs[in.Kind])
		}
	}

	pgPort := postmasterPort(t, filepath.Join(state, "postgres", "data", "postmaster.pid"))
	ports = append(ports, net.JoinHostPort("127.0.0.1", pgPort))

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("dev stack exited with %v after Ctrl-C, want status 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("dev stack did not exit within 60 s of Ctrl-C")
	}
	for _, a := range ports {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after exit", a)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "postgres", "data", "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("postgres still running after exit (postmaster.pid: %v)", err)
	}
}

func listServices(t *testing.T, addr string) []string {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names
}

func postmasterPort(t *testing.T, pidFile string) string {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("private postgres not running: %v", err)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		t.Fatalf("postmaster.pid: %q", b)
	}
	return strings.TrimSpace(lines[3])
}

// `devstack -help` is a question, not a mistake: usage on stdout, status 0. A port in use stops
// it before anything starts, naming the port and what moves it.
func TestHelpAndBusyPortExitCodes(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "devstack")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, arg := range []string{"-help", "-h"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil {
			t.Errorf("devstack %s: %v, want status 0", arg, err)
		}
		if !strings.Contains(string(out), "-gateway-port") {
			t.Errorf("devstack %s printed no usage on stdout: %q", arg, out)
		}
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	cmd := exec.Command(bin, "-state", t.TempDir(), "-gateway-port", "0", "-service-base-port", "0", "-admin-port", "0",
		"-simulator-base-port", "-1", "-mail-port", "-1", "-smtp-port", "0", "-oidc-port", "0")
	cmd.Env = append(os.Environ(), "ORGPLANE_DEV_NATS_PORT="+port)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("devstack started with its NATS port taken:\n%s", out)
	}
	for _, want := range []string{"port " + port + " (NATS) is already in use", "-nats-port or ORGPLANE_DEV_NATS_PORT moves it"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
