package main

import (
	"errors"
	"flag"
	"net"
	"strconv"
	"strings"
	"testing"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// Every port flag has a variable, so `make run` can move it either way; the flag wins.
func TestPortsComeFromVariablesAndFlags(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"ORGPLANE_DEV_GATEWAY_PORT":        "8181",
		"ORGPLANE_DEV_SERVICE_BASE_PORT":   "9301",
		"ORGPLANE_DEV_ADMIN_PORT":          "9400",
		"ORGPLANE_DEV_NATS_PORT":           "4333",
		"ORGPLANE_DEV_SIMULATOR_BASE_PORT": "-1",
		"ORGPLANE_DEV_MAIL_PORT":           "8026",
		"ORGPLANE_DEV_SMTP_PORT":           "1026",
	}
	o, err := parseFlags([]string{"-gateway-port", "8081"}, env(vars), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := [...]int{o.gwPort, o.basePort, o.adminPort, o.natsPort, o.simPort, o.mailPort, o.smtpPort}
	if want := [...]int{8081, 9301, 9400, 4333, -1, 8026, 1026}; got != want {
		t.Errorf("ports = %v, want %v (the flag over its variable, the variables over the defaults)", got, want)
	}
	o, err = parseFlags(nil, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.gwPort != 8080 || o.natsPort != 4322 || o.state != ".run" {
		t.Errorf("defaults: %+v", o)
	}
}

func TestBadSettingsNameTheirFlagOrVariable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		vars map[string]string
		want string
	}{
		{nil, map[string]string{"ORGPLANE_DEV_NATS_PORT": "lots"}, `ORGPLANE_DEV_NATS_PORT="lots": want a whole number (-nats-port)`},
		{nil, map[string]string{"ORGPLANE_LOG_LEVEL": "loud"}, "ORGPLANE_LOG_LEVEL"},
		{[]string{"-postgres", "mine"}, nil, "-postgres (or ORGPLANE_DEV_POSTGRES)"},
		{[]string{"-gateway-prot", "1"}, nil, "-gateway-prot"},
		{[]string{"tokne"}, nil, `unknown command or argument "tokne"`},
	} {
		_, err := parseFlags(c.args, env(c.vars), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: err = %v, want it to contain %q", c.args, c.vars, err, c.want)
		}
	}
}

func TestHelpPrintsUsageWithVariables(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-help", "-h", "--help"} {
		var out strings.Builder
		_, err := parseFlags([]string{arg}, env(nil), &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: err = %v, want flag.ErrHelp", arg, err)
		}
		for _, want := range []string{"make run ARGS=", "-nats-port", "[$ORGPLANE_DEV_NATS_PORT]", "[$ORGPLANE_DEV_GATEWAY_PORT]"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: usage lacks %q:\n%s", arg, want, out.String())
			}
		}
	}
}

func TestPortInUseNamesPortFlagAndVariable(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	o, err := parseFlags([]string{"-gateway-port", "0", "-service-base-port", "0", "-admin-port", "0",
		"-simulator-base-port", "0", "-mail-port", "0", "-smtp-port", "0", "-oidc-port", "0", "-nats-port", strconv.Itoa(port)}, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = checkPorts("127.0.0.1", o)
	for _, want := range []string{"port " + strconv.Itoa(port) + " (NATS) is already in use", "-nats-port", "ORGPLANE_DEV_NATS_PORT"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}

	// Two flags on one port clash before anything starts, too.
	o.natsPort, o.gwPort = 0, port
	busy.Close()
	o.adminPort = port
	if err := checkPorts("127.0.0.1", o); err == nil || !strings.Contains(err.Error(), "given to both REST gateway and metrics") {
		t.Errorf("err = %v, want the clash of -gateway-port and -admin-port named", err)
	}
	o.adminPort = 0
	if err := checkPorts("127.0.0.1", o); err != nil {
		t.Errorf("free ports: %v", err)
	}
}
