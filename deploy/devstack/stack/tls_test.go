package stack_test

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/deploy/devstack/stack"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/pkg/rpc/rpctest"
)

type tlsWorld struct {
	*world
	keys *identity.Keyring
	// client is how a holder of a certificate from the suite's CA dials (mutual TLS).
	client rpc.ClientTLS
	// noCert trusts the CA but has no certificate to show.
	noCert rpc.ClientTLS
}

// startTLSWorld runs the whole suite with every service serving gRPC over mutual TLS from a test
// CA, as cert-manager would issue: the gateway and the services calling peers present client
// certificates from the same CA.
func startTLSWorld(t *testing.T) *tlsWorld {
	t.Helper()
	dir := t.TempDir()
	ca := rpctest.NewCA(t, "orgplane test CA")
	caFile := filepath.Join(dir, "ca.crt")
	rpctest.WriteFile(t, caFile, ca.PEM)
	names := []string{"127.0.0.1"}
	for _, s := range stack.Specs(nil) {
		names = append(names, s.Name)
	}
	server := ca.Issue(t, "orgplane services", names...).Write(t, dir, "server")
	client := ca.Issue(t, "orgplane callers", "gateway").Write(t, dir, "client")
	clientTLS := rpc.ClientTLS{CAFile: caFile, CertFile: client.CertFile, KeyFile: client.KeyFile}

	keys := testkit.Keyring(t)
	su := startStack(t, func(o *stack.Options) {
		o.Keys = keys
		o.ServiceTLS = rpc.ServerTLS{CertFile: server.CertFile, KeyFile: server.KeyFile, ClientCAFile: caFile}
		o.ClientTLS = clientTLS
	})
	return &tlsWorld{
		world: &world{suite: su},
		keys:  keys, client: clientTLS, noCert: rpc.ClientTLS{CAFile: caFile},
	}
}

// raw dials a service with transport c and none of the suite's client interceptors.
func (w *tlsWorld) raw(addr string, c rpc.ClientTLS) *grpc.ClientConn {
	w.t.Helper()
	transport, err := c.DialOption(testLog())
	if err != nil {
		w.t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, transport)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { conn.Close() })
	return conn
}

// The suite works end to end over mutual TLS: the gateway reaches org (API keys, accounts,
// organizations), billing reaches org (the trial's limit is applied there), mapping reaches org
// (group visibility of links), and readiness checks every service.
func TestTheSuiteRunsOverMutualTLS(t *testing.T) {
	w := startTLSWorld(t)
	if r := w.do("GET", "/readyz", "", ""); r.code != 200 {
		t.Fatalf("readyz over TLS = %d %s", r.code, r.body)
	}
	a := w.newMSP("Contoso MSP")
	w.subscribed(a)
	org := w.createOrg(a, a.adminKey, `{"name":"Over TLS"}`)
	w.must(200, "GET", "/v1/accounts/"+a.id+"/organizations/"+org["id"].(string), a.adminKey, "")
	w.must(200, "GET", "/v1/accounts/"+a.id+"/organizations/"+org["id"].(string)+"/links", a.adminKey, "")
	if _, used, _ := w.usage(a); used != 1 {
		t.Fatalf("billing reads usage from org: used = %v, want 1", used)
	}
}

// With TLS on, a plaintext client and a client without a certificate from the CA get no
// connection to any service, not even to the open health and reflection services.
func TestServicesRefuseClientsWithoutTLSOrACertificate(t *testing.T) {
	w := startTLSWorld(t)
	for name, addr := range w.st.ServiceAddrs {
		for kind, c := range map[string]rpc.ClientTLS{"plaintext": {}, "no client certificate": w.noCert} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := healthpb.NewHealthClient(w.raw(addr, c)).Check(ctx, &healthpb.HealthCheckRequest{})
			cancel()
			if status.Code(err) != codes.Unavailable {
				t.Errorf("%s, %s: health check = %v, want Unavailable (no connection)", name, kind, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := healthpb.NewHealthClient(w.raw(addr, w.client)).Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s with a certificate from the CA: %v %v", name, resp, err)
		}
	}
}

// Every method of every service, called with a valid operator token signed for any other
// service, is refused as Unauthenticated; the same call with a token for the service itself
// gets past authentication. The methods come from each service's own reflection, so a new
// service or method is covered without touching this test.
func TestATokenForOneServiceIsRefusedByEveryOther(t *testing.T) {
	w := startTLSWorld(t)
	operator := identity.Identity{Kind: identity.KindOperator, PrincipalID: "operator"}
	var names []string
	for _, s := range stack.Specs(nil) {
		names = append(names, s.Name)
	}
	checked := map[string]int{}
	for _, target := range names {
		conn := w.raw(w.st.ServiceAddrs[target], w.client)
		for _, method := range methodsOf(t, conn) {
			for _, audience := range append([]string{identity.UnnamedAudience}, names...) {
				tok, err := w.keys.SignFor(operator, audience)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				ctx = metadata.AppendToOutgoingContext(ctx, identity.MetadataKey, tok)
				err = conn.Invoke(ctx, method, &emptypb.Empty{}, &emptypb.Empty{})
				cancel()
				refused := status.Code(err) == codes.Unauthenticated
				if audience == target && refused {
					t.Errorf("%s %s refused a token signed for it: %v", target, method, err)
				}
				if audience != target && !refused {
					t.Errorf("%s %s accepted a token signed for %s: %v", target, method, audience, err)
				}
				checked[target]++
			}
		}
	}
	// org always has an API (it authenticates API keys); services without one yet serve only
	// health and reflection, which are open by design.
	if checked["org"] == 0 {
		t.Fatal("no org method found to check")
	}
	t.Logf("calls checked per service: %v", checked)
}

// methodsOf lists the unary methods a service serves, from its reflection service, leaving out
// the open ones (health, reflection).
func methodsOf(t *testing.T, conn *grpc.ClientConn) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.CloseSend()
	if _, err := stream.Recv(); err != io.EOF && err != nil {
		t.Logf("reflection stream end: %v", err)
	}
	var out []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc.GetName()))
		if err != nil {
			t.Fatalf("service %s: %v", svc.GetName(), err)
		}
		sd := d.(protoreflect.ServiceDescriptor)
		if sd.ParentFile().Package() == "grpc.health.v1" || sd.ParentFile().Package().Parent() == "grpc.reflection" {
			continue
		}
		for i := range sd.Methods().Len() {
			m := sd.Methods().Get(i)
			if !m.IsStreamingClient() && !m.IsStreamingServer() {
				out = append(out, "/"+string(sd.FullName())+"/"+string(m.Name()))
			}
		}
	}
	return out
}
