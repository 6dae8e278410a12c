package stack_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/orgplane/orgplane/deploy/devstack/grpctoken"
	"github.com/orgplane/orgplane/deploy/devstack/stack"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

// grpcurlVersion is the grpcurl the README's example is tested with.
const grpcurlVersion = "v1.9.3"

// The README's grpcurl example, as written: a token from `devstack token` in the
// x-orgplane-identity header lists an account's organizations over reflection; no token, or
// one made for another service, is refused.
func TestGrpcurlCallsAServiceWithAMintedToken(t *testing.T) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	keys, err := identity.ParseKeyring("dev1:" + base64.StdEncoding.EncodeToString(secret))
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t, func(o *stack.Options) { o.Keys = keys })
	created := s.do("POST", "/v1/accounts", operatorToken, accountBody("Grpcurl MSP"))
	if created.code != http.StatusOK {
		t.Fatalf("create account = %d %s", created.code, created.body)
	}
	account := created.json(t)["account"].(map[string]any)["id"].(string)
	if r := s.do("POST", "/v1/accounts/"+account+"/organizations", operatorToken, `{"name":"Reached over gRPC"}`); r.code != http.StatusOK {
		t.Fatalf("create organization = %d %s", r.code, r.body)
	}
	org := s.st.ServiceAddrs["org"]
	mint := func(r grpctoken.Request) string {
		tok, err := grpctoken.Mint(keys, r)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	admin := mint(grpctoken.Request{Service: "org", Role: grpctoken.RoleAdmin, Account: account, As: "test"})
	forBilling := mint(grpctoken.Request{Service: "billing", Role: grpctoken.RoleAdmin, Account: account, As: "test"})
	request := `{"account_id":"` + account + `"}`

	grpcurl := buildGrpcurl(t)
	if grpcurl == "" {
		// No grpcurl (the module proxy out of reach): the same call with the generated client,
		// so the token and its header are still proven.
		call := func(tok string) (*orgv1.ListOrganizationsResponse, error) {
			conn, err := grpc.NewClient(org, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx := context.Background()
			if tok != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, identity.MetadataKey, tok)
			}
			return orgv1.NewOrganizationServiceClient(conn).ListOrganizations(ctx, &orgv1.ListOrganizationsRequest{AccountId: account})
		}
		resp, err := call(admin)
		if err != nil || len(resp.GetOrganizations()) != 1 || resp.GetOrganizations()[0].GetName() != "Reached over gRPC" {
			t.Fatalf("ListOrganizations with the minted token: %v, %v", resp, err)
		}
		for _, tok := range []string{"", forBilling} {
			if _, err := call(tok); err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
				t.Errorf("a call with token %.12q… was not refused as Unauthenticated: %v", tok, err)
			}
		}
		return
	}

	run := func(header ...string) (string, string, error) {
		args := []string{"-plaintext"}
		for _, h := range header {
			args = append(args, "-H", h)
		}
		args = append(args, "-d", request, org, "orgplane.org.v1.OrganizationService/ListOrganizations")
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(grpcurl, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	out, errOut, err := run(identity.MetadataKey + ": " + admin)
	if err != nil {
		t.Fatalf("grpcurl: %v\n%s", err, errOut)
	}
	var listed struct {
		Organizations []struct {
			Name string `json:"name"`
		} `json:"organizations"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed.Organizations) != 1 || listed.Organizations[0].Name != "Reached over gRPC" {
		t.Fatalf("grpcurl printed %s (%v); want the one organization", out, err)
	}
	for name, header := range map[string][]string{
		"no token":              nil,
		"a token for billing":   {identity.MetadataKey + ": " + forBilling},
		"the token as a bearer": {"authorization: Bearer " + admin},
	} {
		if _, errOut, err := run(header...); err == nil || !strings.Contains(errOut, "Unauthenticated") {
			t.Errorf("grpcurl with %s: %v %s; want Unauthenticated", name, err, errOut)
		}
	}
}

// buildGrpcurl installs grpcurl from the Go module proxy once into the user's cache and returns
// its path, or "" when it cannot be had in time.
func buildGrpcurl(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "orgplane-tools", "grpcurl-"+grpcurlVersion)
	bin := filepath.Join(dir, "grpcurl")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/fullstorydev/grpcurl/cmd/grpcurl@"+grpcurlVersion)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("grpcurl %s could not be built (%v), calling with the generated client instead:\n%s", grpcurlVersion, err, out)
		return ""
	}
	return bin
}
