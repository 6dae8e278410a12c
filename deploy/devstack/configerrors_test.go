package main_test

import (
	"encoding/base64"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/deploy/devstack/stack"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

// Issue 17: configuration errors name the environment variable or flag a person sets, never a
// Go field. Every setting of every binary (the platform's, the gateway's and each service's
// own) is given a value it cannot take, by its variable and by its flag as `--help` lists it,
// and left out when required; each error must name that variable or flag and no Go name.
func TestEveryBinarysConfigErrorsNameTheVariableOrFlag(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "ORGPLANE_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	args := os.Args
	t.Cleanup(func() { os.Args = args })
	configs := map[string]any{"platform": &platform.Config{}, "gateway": &gatewaysvc.EnvConfig{}}
	for _, s := range stack.Specs(nil) {
		if s.Config != nil {
			configs[s.Name] = s.Config
		}
	}
	if len(configs) < 5 {
		t.Fatalf("found the settings of %d binaries: %v", len(configs), configs)
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			typ := reflect.TypeOf(cfg).Elem()
			fresh := func() any { return reflect.New(typ).Interface() }
			vars := platform.EnvNames(cfg)
			fields := configFields(typ)
			// Every required setting set to something it takes, so that one mistake at a time
			// is reported.
			var required []string
			for _, f := range fields {
				if strings.Contains(","+f.Tag.Get("conf")+",", ",required,") {
					if f.Type.Kind() != reflect.String {
						t.Fatalf("required setting %s is not text; give it a valid value here", vars[f.Name])
					}
					required = append(required, vars[f.Name])
				}
			}
			base := func() {
				for _, v := range vars {
					os.Unsetenv(v)
				}
				for _, v := range required {
					t.Setenv(v, "x")
				}
				os.Args = []string{name}
			}
			check := func(what, mustName string) {
				t.Helper()
				err := platform.ParseServiceConfig(fresh())
				if err == nil {
					t.Errorf("%s: accepted", what)
					return
				}
				msg := err.Error()
				if !strings.Contains(msg, mustName) {
					t.Errorf("%s: %q does not name %s", what, msg, mustName)
				}
				for _, f := range fields {
					if regexp.MustCompile(`\b` + f.Name + `\b`).MatchString(msg) {
						t.Errorf("%s: %q names the Go field %s", what, msg, f.Name)
					}
				}
				for _, w := range []string{"conf:", "converting", "details", "strconv", "time.Duration", "int32"} {
					if strings.Contains(msg, w) {
						t.Errorf("%s: %q speaks Go (%q)", what, msg, w)
					}
				}
			}

			base()
			if err := platform.ParseServiceConfig(fresh()); err != nil {
				t.Fatalf("the required settings alone: %v", err)
			}
			refusable := 0
			for _, f := range fields {
				if f.Type.Kind() == reflect.String || f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String {
					continue // any text is taken; what it means is checked after parsing
				}
				refusable++
				base()
				t.Setenv(vars[f.Name], "not-a-value")
				check(vars[f.Name]+"=not-a-value", vars[f.Name]+`="not-a-value": want `)
			}
			for _, v := range required {
				base()
				os.Unsetenv(v)
				check("without "+v, v+" is required (or the --")
			}
			// The flags as --help lists them: each one conf refuses a value for names itself.
			base()
			os.Args = []string{name, "--help"}
			var usage strings.Builder
			level := "info"
			if _, code, done := platform.LoadConfig(name, &level, &usage, fresh()); !done || code != 0 {
				t.Fatalf("--help: done %v, exit code %d", done, code)
			}
			// A flag is its variable's name, lower case with dashes: a person who read one in the
			// docs finds the other without a table (conf derives flags from Go field names, which
			// drift from the variables unless a flag: tag says otherwise).
			// --help lists the flags, then the variables: each variable's flag must be there.
			help := usage.String()
			options, environment, ok := strings.Cut(help, "ENVIRONMENT")
			envs := regexp.MustCompile(`(?m)^\s+`+platform.EnvPrefix+`_([A-Z0-9_]+)\s`).FindAllStringSubmatch(environment, -1)
			if !ok || len(envs) == 0 {
				t.Fatalf("--help lists no variables:\n%s", help)
			}
			for _, m := range envs {
				want := strings.ToLower(strings.ReplaceAll(m[1], "_", "-"))
				if !regexp.MustCompile(`(?m)^\s+(?:-\w, )?--` + want + `\s`).MatchString(options) {
					t.Errorf("%s_%s has no flag --%s (conf names flags after Go fields unless a flag: tag says otherwise):\n%s", platform.EnvPrefix, m[1], want, options)
				}
			}
			refused := 0
			for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`).FindAllStringSubmatch(usage.String(), -1) {
				if m[1] == "help" || m[1] == "version" {
					continue
				}
				base()
				os.Args = []string{name, "--" + m[1] + "=not-a-value"}
				if platform.ParseServiceConfig(fresh()) == nil {
					continue // a text setting
				}
				refused++
				check("--"+m[1]+"=not-a-value", "--"+m[1]+` "not-a-value": want `)
			}
			if refused != refusable {
				t.Errorf("%d flags refused a bad value, want one for each of the %d settings that are not text", refused, refusable)
			}
			t.Logf("%d settings: %d refuse a bad value, %d required", len(fields), refusable, len(required))
			base()
			os.Args = []string{name, "-=x"}
			check("a malformed flag", `malformed flag "-=x"`)
		})
	}
}

// configFields lists a conf-tagged struct's settings, embedded structs' included.
func configFields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for f := range t.Fields() {
		switch {
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			out = append(out, configFields(f.Type)...)
		case f.IsExported() && f.Tag.Get("conf") != "" && f.Tag.Get("conf") != "-":
			out = append(out, f)
		}
	}
	return out
}

// What the gateway checks after parsing is reported by the variable too: the gateway binary's
// Main, given an operator token too short or a CORS origin it refuses, exits 1 naming it.
func TestGatewaySettingsCheckedAfterParsingNameTheVariable(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "ORGPLANE_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	args := os.Args
	t.Cleanup(func() { os.Args = args })
	os.Args = []string{"gateway"}
	t.Setenv("ORGPLANE_IDENTITY_KEYS", "k1:"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	t.Setenv("ORGPLANE_HTTP_ADDR", "127.0.0.1:0")
	for _, c := range []struct{ token, cors, want string }{
		{"too-short", "", "ORGPLANE_OPERATOR_TOKEN: need at least 32 characters"},
		{strings.Repeat("x", 40), "https://app.example.com;*", `ORGPLANE_CORS_ORIGINS: \"*\"`}, // as the JSON log escapes it
	} {
		t.Setenv("ORGPLANE_OPERATOR_TOKEN", c.token)
		t.Setenv("ORGPLANE_CORS_ORIGINS", c.cors)
		var out strings.Builder
		if code := gatewaysvc.Main(t.Context(), nil, &out); code != 1 || !strings.Contains(out.String(), c.want) {
			t.Errorf("gateway with token %q and origins %q: exit %d, log:\n%s\nwant exit 1 and %q", c.token, c.cors, code, out.String(), c.want)
		}
	}
}
