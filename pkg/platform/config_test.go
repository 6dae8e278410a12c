package platform_test

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

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

// allKinds has a setting of every kind conf can refuse a value for, named every way conf names
// them (env tag, flag tag, none, nested).
type allKinds struct {
	TrialLimit int32          `conf:"env:TRIAL_LIMIT,default:25"`
	Count      int            `conf:"env:COUNT,default:1"`
	Ratio      float64        `conf:"env:RATIO,default:1.5"`
	Enabled    bool           `conf:"env:ENABLED"`
	Wait       time.Duration  `conf:"env:WAIT,default:5s"`
	Size       uint16         `conf:"env:SIZE,default:1"`
	Ports      []int          `conf:"env:PORTS"`
	Weights    map[string]int `conf:"env:WEIGHTS"`
	Region     string         `conf:"env:REGION,required"`
	Replicas   int            `conf:"env:REPLICAS,default:1,notzero"`
	PinNumber  int            `conf:"env:PIN_NUMBER,mask"`
	MaxConns   int            `conf:"env:MAX_CONNS,flag:conns"`
	GRPCPort   int
	Nested     struct {
		Depth int `conf:"default:1"`
	}
}

type badDefault struct {
	Retries int `conf:"env:RETRIES,default:three"`
}

// Every form of error conf can return for a configuration names what a person sets (the
// variable, or the flag the bad value came from) and the kind of value wanted; never a Go field
// or type, nor the parser's own words, nor a masked value.
func TestEveryConfigErrorNamesTheVariableOrFlag(t *testing.T) {
	for _, k := range os.Environ() {
		if name, _, _ := strings.Cut(k, "="); strings.HasPrefix(name, "ORGPLANE_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	args := os.Args
	t.Cleanup(func() { os.Args = args })
	for _, c := range []struct {
		name  string
		cfg   func() any
		env   map[string]string
		unset string
		args  []string
		want  []string
		not   []string
	}{
		{name: "required variable missing", cfg: func() any { return &allKinds{} }, unset: "ORGPLANE_REGION",
			want: []string{"ORGPLANE_REGION is required (or the --region flag)"}},
		{name: "whole number out of range", cfg: func() any { return &allKinds{} }, env: map[string]string{"ORGPLANE_TRIAL_LIMIT": "99999999999"},
			want: []string{`ORGPLANE_TRIAL_LIMIT="99999999999": want a whole number from -2147483648 to 2147483647`}},
		{name: "not a number", cfg: func() any { return &allKinds{} }, env: map[string]string{"ORGPLANE_COUNT": "many"},
			want: []string{`ORGPLANE_COUNT="many": want a whole number`}},
		{name: "not a decimal", cfg: func() any { return &allKinds{} }, env: map[string]string{"ORGPLANE_RATIO": "fast"},
			want: []string{`ORGPLANE_RATIO="fast": want a number`}},
		{name: "not a bool", cfg: func() any { return &allKinds{} }, env: map[string]string{"ORGPLANE_ENABLED": "yes please"},
			want: []string{`ORGPLANE_ENABLED="yes please": want true or false`}},
		{name: "not a duration", cfg: func() any { return &allKinds{} }, env: map[string]string{"ORGPLANE_WAIT": "5 minutes"},
			want: []string{`ORGPLANE_WAIT="5 minutes": want a duration such as 30s, 5m or 1h30m`}},
		{name: "negative unsigned", cfg: func() any { return &allKinds{} }, env: map[string]string{"ORGPLANE_SIZE": "-1"},
			want: []string{`ORGPLANE_SIZE="-1": want a whole number from 0 to 65535`}},
		{name: "bad list item", cfg: func() any { return &allKinds{} }, env: map[string]string{"ORGPLANE_PORTS": "80;http"},
			want: []string{`ORGPLANE_PORTS="80;http": want values separated by semicolons, each a whole number`}},
		{name: "bad map item", cfg: func() any { return &allKinds{} }, env: map[string]string{"ORGPLANE_WEIGHTS": "a:1;b"},
			want: []string{`ORGPLANE_WEIGHTS="a:1;b": want key:value pairs separated by semicolons, each key text and each value a whole number`}},
		{name: "zero where zero is refused", cfg: func() any { return &allKinds{} }, env: map[string]string{"ORGPLANE_REPLICAS": "0"},
			want: []string{"ORGPLANE_REPLICAS must not be empty or zero (or the --replicas flag)"}},
		{name: "masked value not repeated", cfg: func() any { return &allKinds{} }, env: map[string]string{"ORGPLANE_PIN_NUMBER": "12x4"},
			want: []string{"ORGPLANE_PIN_NUMBER=(masked): want a whole number"}, not: []string{"12x4"}},
		{name: "bad value from a flag", cfg: func() any { return &allKinds{} }, args: []string{"--trial-limit=many"},
			want: []string{`--trial-limit "many": want a whole number from`}},
		{name: "bad value from a flag and its argument", cfg: func() any { return &allKinds{} }, args: []string{"--wait", "soon"},
			want: []string{`--wait "soon": want a duration`}},
		{name: "flag named by a tag", cfg: func() any { return &allKinds{} }, args: []string{"--conns=lots"},
			want: []string{`--conns "lots": want a whole number`}},
		{name: "variable and flag named from the Go name", cfg: func() any { return &allKinds{} }, env: map[string]string{"ORGPLANE_GRPC_PORT": "x"},
			want: []string{`ORGPLANE_GRPC_PORT="x": want a whole number`}},
		{name: "flag named from the Go name", cfg: func() any { return &allKinds{} }, args: []string{"-grpc-port=x"},
			want: []string{`--grpc-port "x": want a whole number`}},
		{name: "nested setting", cfg: func() any { return &allKinds{} }, env: map[string]string{"ORGPLANE_NESTED_DEPTH": "deep"},
			want: []string{`ORGPLANE_NESTED_DEPTH="deep": want a whole number`}},
		{name: "the variable wins the blame when it is the bad one", cfg: func() any { return &allKinds{} },
			env: map[string]string{"ORGPLANE_COUNT": "x"}, args: []string{"--count=2"}, want: []string{`ORGPLANE_COUNT="x"`}},
		{name: "malformed flag", cfg: func() any { return &allKinds{} }, args: []string{"---count=2"},
			want: []string{`malformed flag "---count=2": write --name=value or --name value`}},
		{name: "a bad default names the setting", cfg: func() any { return &badDefault{} },
			want: []string{`the default of ORGPLANE_RETRIES, "three": want a whole number`}},
		{name: "platform: required", cfg: func() any { return &platform.Config{} }, env: map[string]string{"ORGPLANE_IDENTITY_KEYS": "k"},
			want: []string{"ORGPLANE_DATABASE_URL is required (or the --database-url flag)"}},
		{name: "platform: bool", cfg: func() any { return &platform.Config{} },
			env:  map[string]string{"ORGPLANE_DATABASE_URL": "postgres://x", "ORGPLANE_IDENTITY_KEYS": "k", "ORGPLANE_MIGRATE_ON_START": "sometimes"},
			want: []string{`ORGPLANE_MIGRATE_ON_START="sometimes": want true or false`}},
		{name: "platform: bool flag", cfg: func() any { return &platform.Config{} },
			env:  map[string]string{"ORGPLANE_DATABASE_URL": "postgres://x", "ORGPLANE_IDENTITY_KEYS": "k"},
			args: []string{"--database-set-role=maybe"}, want: []string{`--database-set-role "maybe": want true or false`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("ORGPLANE_REGION", "eu")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			if c.unset != "" {
				os.Unsetenv(c.unset)
			}
			os.Args = append([]string{"svc"}, c.args...)
			cfg := c.cfg()
			err := platform.ParseServiceConfig(cfg)
			if err == nil {
				t.Fatalf("no error; want %q", c.want)
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			for _, n := range c.not {
				if strings.Contains(msg, n) {
					t.Errorf("error %q repeats %q", msg, n)
				}
			}
			if leak := goWords(cfg, msg); len(leak) > 0 {
				t.Errorf("error %q names Go's words %q, not what a person sets", msg, leak)
			}
		})
	}
}

// goWords returns the Go field and type names and the parser's own words found in msg.
func goWords(cfg any, msg string) []string {
	words := []string{"conf:", "details", "strconv", "time:", "int32", "int64", "uint16", "float64", "Duration", "map[", "[]", "converting", "field"}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for f := range t.Fields() {
			words = append(words, f.Name)
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(cfg))
	var found []string
	for _, w := range words {
		if regexp.MustCompile(`(^|[^A-Za-z_])`+regexp.QuoteMeta(w)+`($|[^A-Za-z_])`).MatchString(msg) ||
			(!strings.ContainsAny(w[:1], "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && strings.Contains(msg, w)) {
			found = append(found, w)
		}
	}
	return found
}
