package gatewaysvc

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/gateway/internal/openapi"
)

func TestBodyRefusalsNameTheFieldAndType(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		body  string
		msg   proto.Message
		field string
		want  string
	}{
		{`{"name":123}`, &orgv1.Organization{}, "name", "must be a string"},
		{`{"name":"x","parentId":true}`, &orgv1.Organization{}, "parentId", "must be a string"},
		{`{"name":`, &orgv1.Organization{}, "body", "is not valid JSON"},
		{`{"name":"x"} {}`, &orgv1.Organization{}, "body", "more than one"},
		{strings.Repeat("[", 100000), &orgv1.Organization{}, "body", "nested too deeply"},
		{`{"nope":1}`, &orgv1.Organization{}, "nope", "is not a field"},
		{`{"organizations":[{"name":"a"},{"name":"b"},{"name":"c"},{"name":7}]}`, &orgv1.BulkCreateOrganizationsRequest{}, "organizations[3].name", "must be a string"},
		{`{"pageSize":"abc"}`, &orgv1.ListOrganizationsRequest{}, "pageSize", "must be an integer"},
		{`{"pageSize":99999999999999999999}`, &orgv1.ListOrganizationsRequest{}, "pageSize", "between"},
		{`{"pageSize":1e400}`, &orgv1.ListOrganizationsRequest{}, "pageSize", "must be an integer"},
		{`[]`, &orgv1.Organization{}, "body", "JSON object"},
	} {
		err := explainBody([]byte(c.body), c.msg)
		var ie *inputError
		if !errors.As(err, &ie) || ie.field != c.field || !strings.Contains(ie.problem, c.want) || libraryText(ie.Error()) {
			t.Errorf("%s: %v, want %s %q", c.body, err, c.field, c.want)
		}
	}
}

func TestQueryRefusalsNameTheParameter(t *testing.T) {
	t.Parallel()
	p := &restQueryParser{}
	for _, c := range []struct {
		query, field, want string
	}{
		{"pageSize=abc", "pageSize", "must be an integer"},
		{"page_size=99999999999999", "pageSize", "between"},
	} {
		q, _ := url.ParseQuery(c.query)
		err := p.Parse(&orgv1.ListOrganizationsRequest{}, q, &utilities.DoubleArray{})
		var ie *inputError
		if !errors.As(err, &ie) || ie.field != c.field || !strings.Contains(ie.problem, c.want) {
			t.Errorf("%s: %v", c.query, err)
		}
	}
	if err := p.Parse(&orgv1.ListOrganizationsRequest{}, url.Values{"pageSize": {"10"}}, &utilities.DoubleArray{}); err != nil {
		t.Errorf("a good query: %v", err)
	}
}

func TestKnownPathsListTheirMethods(t *testing.T) {
	t.Parallel()
	rt, err := newRoutes(openapi.Document)
	if err != nil {
		t.Fatal(err)
	}
	a := "/v1/accounts/00000000-0000-4000-8000-000000000001"
	for path, want := range map[string]string{
		a + "/organizations":                  "GET,POST",
		a + "/organizations/x:deactivate":     "POST",
		a + "/organizations/x":                "DELETE,GET,PATCH",
		"/v1/nothing/here":                    "",
		a + "/organizations/x:notAVerb":       "",
		a + "/organizations/x/links/y/z/w/v/": "",
	} {
		if got := strings.Join(rt.allowed(path), ","); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
}

// TestFlattenedDecodingErrorsKeepTheirField: the generated handlers pass a decoding error on as
// text only; the error handler still names the field in a google.rpc.BadRequest, and replaces a
// library's words it did not write.
func TestFlattenedDecodingErrorsKeepTheirField(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"organizations[3].name: must be a string": `"field":"organizations[3].name"`,
		"body: is nested too deeply":              `"field":"body"`,
		`type mismatch, parameter: account_id, error: strconv.ParseInt: parsing "x": invalid syntax`: `"field":"accountId"`,
	} {
		rec := httptest.NewRecorder()
		restErrorHandler(context.Background(), runtime.NewServeMux(), &runtime.JSONPb{}, rec,
			httptest.NewRequest("POST", "/", nil), status.Error(codes.InvalidArgument, in))
		body := strings.ReplaceAll(rec.Body.String(), " ", "")
		if rec.Code != 400 || !strings.Contains(body, want) || libraryText(body) {
			t.Errorf("%s: %d %s", in, rec.Code, rec.Body)
		}
	}
}
