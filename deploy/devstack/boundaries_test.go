package main_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const modulePrefix = "github.com/orgplane/orgplane/"

type listedPackage struct {
	ImportPath string
	Module     *struct{ Path string }
	Imports    []string
	Deps       []string
}

// goList runs `go list -json` in the workspace root on patterns.
func goList(t *testing.T, args ...string) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func serviceOf(importPath string) string {
	rest, ok := strings.CutPrefix(importPath, modulePrefix+"services/")
	if !ok {
		return ""
	}
	svc, _, _ := strings.Cut(rest, "/")
	return svc
}

// The layering the issue asked for, checked on every build: pkg/events knows no service, the
// shared module imports no service and no dev-only code, and a service imports no other
// service's packages (the gateway's suite, which composes them, excepted).
func TestImportBoundaries(t *testing.T) {
	for _, p := range goList(t, "-deps", "./pkg/events") {
		if serviceOf(p.ImportPath) != "" || strings.HasPrefix(p.ImportPath, modulePrefix+"deploy/") {
			t.Errorf("pkg/events depends on %s", p.ImportPath)
		}
	}
	for _, p := range goList(t, "./pkg/...") {
		for _, imp := range p.Imports {
			if serviceOf(imp) != "" || strings.HasPrefix(imp, modulePrefix+"deploy/") {
				t.Errorf("%s imports %s", p.ImportPath, imp)
			}
		}
	}
	for _, svc := range []string{"org", "mapping", "integration-sync", "notification", "billing", "gateway"} {
		for _, p := range goList(t, "./services/"+svc+"/...") {
			if p.ImportPath == modulePrefix+"services/gateway/suite" {
				continue
			}
			for _, imp := range p.Imports {
				if other := serviceOf(imp); other != "" && other != svc {
					t.Errorf("%s imports %s: services meet over gRPC and events only", p.ImportPath, imp)
				}
				if strings.HasPrefix(imp, modulePrefix+"deploy/") {
					t.Errorf("%s (production code) imports dev-only %s", p.ImportPath, imp)
				}
			}
		}
	}
}
