package platform_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/pkg/platform"
)

// Every setting names its variable, so that errors and docs can name it.
func TestConfigFieldsNameTheirVariables(t *testing.T) {
	t.Parallel()
	names := platform.EnvNames(&platform.Config{})
	for f := range reflect.TypeFor[platform.Config]().Fields() {
		if f.Anonymous || f.Name == "Args" {
			continue
		}
		if !strings.HasPrefix(names[f.Name], "ORGPLANE_") {
			t.Errorf("field %s has no env tag", f.Name)
		}
	}
}

type serviceSettings struct {
	TrialLimit int32  `conf:"env:TRIAL_LIMIT,default:25,help:organizations a trial allows"`
	Region     string `conf:"env:REGION,required,help:where"`
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	t.Setenv("ORGPLANE_TRIAL_LIMIT", "many")
	t.Setenv("ORGPLANE_REGION", "eu")
	var s serviceSettings
	err := platform.ParseServiceConfig(&s)
	if err == nil || !strings.Contains(err.Error(), "ORGPLANE_TRIAL_LIMIT") || strings.Contains(err.Error(), "TrialLimit") {
		t.Fatalf("bad number: %v; want an error naming ORGPLANE_TRIAL_LIMIT, not the Go field", err)
	}
	t.Setenv("ORGPLANE_TRIAL_LIMIT", "30")
	os.Unsetenv("ORGPLANE_REGION")
	err = platform.ParseServiceConfig(&serviceSettings{})
	if err == nil || !strings.Contains(err.Error(), "ORGPLANE_REGION") || strings.Contains(err.Error(), "Region ") {
		t.Fatalf("missing required setting: %v; want an error naming ORGPLANE_REGION", err)
	}
}

func TestServiceConfigDefaultsAndEnvironment(t *testing.T) {
	t.Setenv("ORGPLANE_REGION", "eu")
	var s serviceSettings
	if err := platform.ParseServiceConfig(&s); err != nil {
		t.Fatal(err)
	}
	if s.TrialLimit != 25 || s.Region != "eu" {
		t.Fatalf("got %+v, want the default limit and the region from the environment", s)
	}
}
