package helm_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// spec is what the chart must agree with in a service's platform.Spec.
type spec struct {
	name, grpcAddr, adminAddr string
	peers                     []string
}

// serviceSpecs reads each service's platform.Spec literal from its source
// (services/<name>/<name>svc/*.go). Reading the source rather than importing the services keeps
// their dependencies, and the Helm SDK's, each in their own module.
func serviceSpecs(t *testing.T) map[string]spec {
	t.Helper()
	files, err := filepath.Glob("../../services/*/*svc/*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]spec{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok || !isSelector(lit.Type, "platform", "Spec") {
				return true
			}
			var s spec
			for _, e := range lit.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				switch key := kv.Key.(*ast.Ident).Name; key {
				case "Name":
					s.name = stringLit(t, kv.Value)
				case "DefaultGRPCAddr":
					s.grpcAddr = stringLit(t, kv.Value)
				case "DefaultAdminAddr":
					s.adminAddr = stringLit(t, kv.Value)
				case "Peers":
					peers, ok := kv.Value.(*ast.CompositeLit)
					if !ok {
						t.Fatalf("%s: Peers is not a literal", f)
					}
					for _, p := range peers.Elts {
						for _, pe := range p.(*ast.CompositeLit).Elts {
							if pkv, ok := pe.(*ast.KeyValueExpr); ok && pkv.Key.(*ast.Ident).Name == "Name" {
								s.peers = append(s.peers, stringLit(t, pkv.Value))
							}
						}
					}
				}
			}
			if s.name != "" {
				out[s.name] = s
			}
			return true
		})
	}
	return out
}

func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg && sel.Sel.Name == name
}

func stringLit(t *testing.T, e ast.Expr) string {
	t.Helper()
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		t.Fatalf("want a string literal, got %T", e)
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func portOfAddr(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%q: %v", addr, err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// TestTheChartFollowsTheServiceSpecs: the chart's services, their default ports, whom each calls
// (ORGPLANE_PEERS) and whom each admits on its gRPC port (the gateway and its callers, nobody
// else) are what the services' specs say.
func TestTheChartFollowsTheServiceSpecs(t *testing.T) {
	specs := serviceSpecs(t)
	if got := slices.Sorted(func(yield func(string) bool) {
		for n := range specs {
			if !yield(n) {
				return
			}
		}
	}); !slices.Equal(got, slices.Sorted(slices.Values(serviceNames))) {
		t.Fatalf("the services' specs are %v; the chart knows %v", got, serviceNames)
	}
	rel, err := render(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	callers := map[string][]string{}
	for _, s := range specs {
		for _, p := range s.peers {
			callers[p] = append(callers[p], s.name)
		}
	}
	for _, n := range serviceNames {
		s := specs[n]
		t.Run(n, func(t *testing.T) {
			grpc := valueAt(t, rel.values, "services."+n+".ports.grpc")
			admin := valueAt(t, rel.values, "services."+n+".ports.admin")
			if toInt(grpc) != portOfAddr(t, s.grpcAddr) || toInt(admin) != portOfAddr(t, s.adminAddr) {
				t.Errorf("ports %v/%v in values.yaml, the spec's defaults are %s and %s", grpc, admin, s.grpcAddr, s.adminAddr)
			}

			o, ok := find(rel, "v1/ConfigMap", componentName(n))
			if !ok {
				t.Fatalf("no ConfigMap for %s", n)
			}
			var peers []string
			if v := o.obj.(*corev1.ConfigMap).Data["ORGPLANE_PEERS"]; v != "" {
				for _, e := range strings.Split(v, ";") {
					name, _, _ := strings.Cut(e, "=")
					peers = append(peers, name)
				}
			}
			if !slices.Equal(slices.Sorted(slices.Values(peers)), slices.Sorted(slices.Values(s.peers))) {
				t.Errorf("ORGPLANE_PEERS names %v; the spec's peers are %v", peers, s.peers)
			}

			np, ok := find(rel, "networking.k8s.io/v1/NetworkPolicy", componentName(n))
			if !ok {
				t.Fatalf("no NetworkPolicy for %s", n)
			}
			admitted := map[string][]string{} // port -> components
			for _, r := range np.obj.(*networkingv1.NetworkPolicy).Spec.Ingress {
				for _, p := range r.Ports {
					for _, from := range r.From {
						c := "(not a pod of the release)"
						if from.PodSelector != nil && from.NamespaceSelector == nil && from.IPBlock == nil {
							c = from.PodSelector.MatchLabels["app.kubernetes.io/component"]
						}
						admitted[p.Port.String()] = append(admitted[p.Port.String()], c)
					}
				}
			}
			want := slices.Sorted(slices.Values(append([]string{"gateway"}, callers[n]...)))
			if got := slices.Sorted(slices.Values(admitted["grpc"])); !slices.Equal(got, want) {
				t.Errorf("gRPC port admits %v, want the gateway and the spec's callers %v", got, want)
			}
			for port, from := range admitted {
				if port != "grpc" && port != "admin" {
					t.Errorf("port %s is open to %v", port, from)
				}
			}
		})
	}
}

func toInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	case interface{ Int64() (int64, error) }:
		i, _ := n.Int64()
		return int(i)
	}
	return -1
}
