package stack_test

import (
	"net/http"
	"strings"
	"testing"

	authzv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/authz/v1"
)

// readOnlyCall is one route called as the account's administrator, built (ids, bodies, things
// it consumes) while the subscription is still active.
type readOnlyCall struct {
	rt      matrixRoute
	path    string
	body    string
	mayFail string
}

func (c readOnlyCall) do(w *world, token string) response {
	if c.rt.streaming {
		return w.openStream(c.rt.verb, c.path, token)
	}
	return w.do(c.rt.verb, c.path, token, c.body)
}

// Issue 12: a canceled subscription still let the account update and deactivate organizations,
// though the README says it becomes read-only. Every route whose rule needs a write permission
// (read from the protos' (orgplane.authz.v1.rule), as the permission matrix reads them) refuses
// the account's administrator with 403 naming the subscription state; every read still works;
// reactivation restores every write.
func TestACanceledSubscriptionMakesEveryWriteRouteReadOnly(t *testing.T) {
	w := &world{suite: startSuite(t)}
	fx, principals := setUpMatrix(t, w)
	admin := principals[0]
	if admin.name != "IT Provider Admin" {
		t.Fatalf("the matrix's first principal is %q, want the administrator", admin.name)
	}
	var writes, reads []readOnlyCall
	for _, rt := range matrixRoutes(t) {
		if rt.caller != authzv1.Caller_CALLER_MEMBER && rt.caller != authzv1.Caller_CALLER_OPERATOR_OR_MEMBER {
			continue
		}
		write := false
		for _, p := range rt.perms {
			write = write || strings.HasSuffix(p, ":write")
		}
		req, ok := matrixRequests[rt.rpc]
		if !ok {
			t.Fatalf("%s (%s): no request in matrixRequests", rt, rt.rpc)
		}
		vars := fx.vars
		if req.vars != nil {
			vars = mergeVars(fx.vars, req.vars(fx))
		}
		path, err := fillPath(rt.template, vars)
		if err != nil {
			t.Fatal(err)
		}
		if req.query != "" {
			path += "?" + req.query
		}
		body := ""
		if req.body != nil {
			body = req.body(fx, admin)
		} else if rt.verb == "POST" || rt.verb == "PUT" || rt.verb == "PATCH" {
			body = "{}"
		}
		c := readOnlyCall{rt: rt, path: path, body: body, mayFail: req.mayFail}
		if write {
			writes = append(writes, c)
		} else {
			reads = append(reads, c)
		}
	}
	if len(writes) < 20 || len(reads) < 10 {
		t.Fatalf("%d write and %d read routes found; the rules were not read", len(writes), len(reads))
	}

	sub := "/v1/accounts/" + fx.account.id + "/subscription"
	for _, state := range []string{"SUBSCRIPTION_STATE_CANCELED", "SUBSCRIPTION_STATE_PAST_DUE"} {
		w.must(200, "PATCH", sub+"?updateMask=state", operatorToken, `{"state":"`+state+`"}`)
		want := map[string]string{"SUBSCRIPTION_STATE_CANCELED": "canceled", "SUBSCRIPTION_STATE_PAST_DUE": "past due"}[state]
		for _, c := range writes {
			r := c.do(w, admin.token)
			if r.code != http.StatusForbidden || !strings.Contains(string(r.body), "SUBSCRIPTION_INACTIVE") ||
				!strings.Contains(string(r.body), want) {
				t.Errorf("%s (%s) on a %s subscription: %d %s, want 403 SUBSCRIPTION_INACTIVE naming %q", c.rt, c.path, want, r.code, r.body, want)
			}
		}
		for _, c := range reads {
			if r := c.do(w, admin.token); r.code >= 300 || r.code < 0 {
				t.Errorf("%s (%s) on a %s subscription: %d %s, want reads to keep working", c.rt, c.path, want, r.code, r.body)
			}
		}
	}

	w.must(200, "PATCH", sub+"?updateMask=state", operatorToken, `{"state":"SUBSCRIPTION_STATE_ACTIVE"}`)
	for _, c := range writes {
		r := c.do(w, admin.token)
		switch {
		case r.code >= 500, r.code == http.StatusForbidden:
			t.Errorf("%s (%s) after reactivation: %d %s", c.rt, c.path, r.code, r.body)
		case r.code >= 300 && c.mayFail == "":
			t.Errorf("%s (%s) after reactivation: %d %s; the matrix's request should succeed", c.rt, c.path, r.code, r.body)
		}
	}
}
