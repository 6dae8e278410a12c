package mappingsvc_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/events"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	mappingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/mapping/mappingsvc"
)

// visibleOrganizations is org's OrganizationService as mapping asks it whether the caller sees an
// organization: every organization of the test is visible.
type visibleOrganizations struct {
	orgv1.UnimplementedOrganizationServiceServer
}

func (visibleOrganizations) GetOrganization(_ context.Context, req *orgv1.GetOrganizationRequest) (*orgv1.Organization, error) {
	return &orgv1.Organization{Id: req.GetOrganizationId()}, nil
}

// pagingWorld is the mapping service served over gRPC on a fresh database, its consumers fed
// as in syncHarness, with org answering visibility.
type pagingWorld struct {
	*syncHarness
	api mappingv1.MappingServiceClient
}

func newPagingWorld(t *testing.T) *pagingWorld {
	t.Helper()
	ctx := context.Background()
	keys := testkit.Keyring(t)
	log := slog.New(slog.DiscardHandler)
	dial := func(srv *rpc.Server) *grpc.ClientConn {
		conn, err := rpc.Dial(testkit.ServeGRPC(t, srv), keys)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	orgSrv, err := rpc.NewServer(log, keys)
	if err != nil {
		t.Fatal(err)
	}
	orgv1.RegisterOrganizationServiceServer(orgSrv, visibleOrganizations{})

	spec := mappingsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	srv, err := rpc.NewServer(log, keys)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := spec.New(ctx, platform.Deps{Log: log, Pool: db.Pool, Server: srv, Keys: keys,
		Peers: map[string]*grpc.ClientConn{"org": dial(orgSrv), "integration-sync": nil}})
	if err != nil {
		t.Fatal(err)
	}
	h := &syncHarness{t: t, ctx: ctx, db: db, consumers: map[string]*events.Consumer{},
		account: uuid.NewString(), integration: uuid.NewString()}
	for _, cs := range parts.Consumers {
		if h.consumers[cs.Durable], err = events.NewConsumer(nil, db.Pool, log, cs); err != nil {
			t.Fatal(err)
		}
	}
	return &pagingWorld{syncHarness: h, api: mappingv1.NewMappingServiceClient(dial(srv))}
}

func (w *pagingWorld) as() context.Context {
	return identity.With(context.Background(), identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "key-1",
		AccountID: w.account, Permissions: []string{"mappings:read", "organizations:read"}})
}

// badPageToken requires the refusal every list gives a token it did not issue: InvalidArgument
// naming page_token as clients spell it (pageToken).
func badPageToken(t *testing.T, what string, err error) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() == codes.InvalidArgument {
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 && br.GetFieldViolations()[0].GetField() == "pageToken" {
				return
			}
		}
	}
	t.Errorf("%s: %v, want InvalidArgument naming pageToken", what, err)
}

// An organization's links page by integration, each once.
func TestOrganizationLinksPageByIntegration(t *testing.T) {
	w := newPagingWorld(t)
	org, other := uuid.NewString(), uuid.NewString()
	var want []string
	err := postgres.InTenantTx(w.ctx, w.db.Pool, w.account, func(tx pgx.Tx) error {
		for i := range 5 {
			integ := uuid.NewString()
			want = append(want, integ)
			for _, o := range []string{org, other} {
				if _, err := tx.Exec(w.ctx, `INSERT INTO links (account_id, organization_id, integration_id, external_organization_id,
					method, created_by, created_at) VALUES ($1, $2, $3, $4, 1, 'user:ada', $5)`, w.account, o, integ, o+string(rune('a'+i)), time.Now()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	list := func(size int32, token string) (*mappingv1.ListOrganizationLinksResponse, error) {
		return w.api.ListOrganizationLinks(w.as(), &mappingv1.ListOrganizationLinksRequest{AccountId: w.account, OrganizationId: org,
			PageSize: size, PageToken: token})
	}
	for _, size := range []int32{1, 2, 5, 6} {
		var got []string
		token := ""
		for pages := 0; ; pages++ {
			r, err := list(size, token)
			if err != nil {
				t.Fatal(err)
			}
			if pages > 10 || (r.GetNextPageToken() != "" && len(r.GetLinks()) != int(size)) {
				t.Fatalf("page %d of %d: %d links, next %q", pages, size, len(r.GetLinks()), r.GetNextPageToken())
			}
			for _, l := range r.GetLinks() {
				if l.GetOrganizationId() != org {
					t.Fatalf("another organization's link: %v", l)
				}
				got = append(got, l.GetIntegrationId())
			}
			if token = r.GetNextPageToken(); token == "" {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages of %d: %v, want %v", size, got, want)
		}
	}

	first, err := list(2, "")
	if err != nil {
		t.Fatal(err)
	}
	tok := first.GetNextPageToken()
	_, err = w.api.ListOrganizationLinks(w.as(), &mappingv1.ListOrganizationLinksRequest{AccountId: w.account, OrganizationId: other,
		PageSize: 2, PageToken: tok})
	badPageToken(t, "another organization's token", err)
	_, err = list(2, tok[:len(tok)-2]+"AA")
	badPageToken(t, "an altered token", err)
	// A position written by the caller: the integration id in base64.
	_, err = list(2, "IjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMCI")
	badPageToken(t, "a forged token", err)
}

// Suggestions page over organizations: each page holds whole organizations, each with all its
// suggestions, scored as in the whole list; the query (organizations, suggestions per
// organization) is the token's.
func TestMatchSuggestionsPageOverOrganizations(t *testing.T) {
	w := newPagingWorld(t)
	w.deliver("mapping-externals", &integrationsyncv1.IntegrationCreated{EventId: uuid.NewString(), AccountId: w.account,
		IntegrationId: w.integration, Kind: "itglue"})
	names := []string{"Alpha Dental Group", "Bravo Plumbing", "Charlie Legal LLP", "Delta Bakery", "Echo Roofing", "Foxtrot Dental"}
	for i, name := range append(slices.Clone(names), "Bravo Plumbing Supplies", "Delta Bakery & Cafe") {
		ext := &integrationsyncv1.ExternalOrganization{IntegrationId: w.integration, IntegrationKind: "itglue",
			ExternalId: string(rune('a' + i)), Name: name}
		w.deliver("mapping-externals", &integrationsyncv1.ExternalOrganizationCreated{EventId: uuid.NewString(), AccountId: w.account,
			ExternalOrganization: ext})
	}
	var orgs []string
	for _, name := range names {
		orgs = append(orgs, w.organization(name))
	}
	w.organization("Quixotic Nomenclature") // no twin: never listed

	type query struct {
		ids    []string
		perOrg int32
	}
	list := func(q query, size int32, token string) (*mappingv1.ListMatchSuggestionsResponse, error) {
		return w.api.ListMatchSuggestions(w.as(), &mappingv1.ListMatchSuggestionsRequest{AccountId: w.account, IntegrationId: w.integration,
			OrganizationIds: q.ids, PerOrganization: q.perOrg, PageSize: size, PageToken: token})
	}
	for _, q := range []query{{}, {perOrg: 1}, {ids: []string{orgs[4], orgs[1], orgs[3]}}} {
		all, err := list(q, 1000, "")
		if err != nil || all.GetNextPageToken() != "" {
			t.Fatalf("%+v: one page of everything: %v %q", q, err, all.GetNextPageToken())
		}
		var allOrgs []string
		for _, s := range all.GetSuggestions() {
			if len(allOrgs) == 0 || allOrgs[len(allOrgs)-1] != s.GetOrganizationId() {
				allOrgs = append(allOrgs, s.GetOrganizationId())
			}
		}
		wantOrgs := len(names)
		if q.ids != nil {
			wantOrgs = len(q.ids)
		}
		if len(allOrgs) != wantOrgs || len(all.GetSuggestions()) <= len(allOrgs) && q.perOrg == 0 {
			t.Fatalf("%+v: %d suggestions for organizations %v: seed twins for each, some with two", q, len(all.GetSuggestions()), allOrgs)
		}
		for _, size := range []int32{1, 2, 4} {
			var got []*mappingv1.MatchSuggestion
			token := ""
			for pages := 0; ; pages++ {
				r, err := list(q, size, token)
				if err != nil {
					t.Fatal(err)
				}
				seen := map[string]bool{}
				for _, s := range r.GetSuggestions() {
					seen[s.GetOrganizationId()] = true
				}
				if pages > 10 || len(seen) > int(size) || (r.GetNextPageToken() != "" && len(seen) != int(size)) {
					t.Fatalf("%+v: page %d of %d: organizations %v, next %q", q, pages, size, seen, r.GetNextPageToken())
				}
				got = append(got, r.GetSuggestions()...)
				if token = r.GetNextPageToken(); token == "" {
					break
				}
			}
			if len(got) != len(all.GetSuggestions()) {
				t.Fatalf("%+v: pages of %d hold %d suggestions, the whole list %d", q, size, len(got), len(all.GetSuggestions()))
			}
			for i, s := range got {
				if want := all.GetSuggestions()[i]; s.GetOrganizationId() != want.GetOrganizationId() ||
					s.GetExternalOrganizationId() != want.GetExternalOrganizationId() || s.GetScore() != want.GetScore() {
					t.Errorf("%+v: pages of %d: suggestion %d is %v, the whole list's %v", q, size, i, s, want)
				}
			}
		}
	}

	q := query{ids: []string{orgs[0], orgs[1], orgs[2]}}
	first, err := list(q, 1, "")
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("a first page of 1: %v %q", err, first.GetNextPageToken())
	}
	tok := first.GetNextPageToken()
	// The same set of organizations in another order is the same query.
	if r, err := list(query{ids: []string{orgs[2], orgs[0], orgs[1], orgs[0]}}, 1, tok); err != nil || len(r.GetSuggestions()) == 0 ||
		r.GetSuggestions()[0].GetOrganizationId() == first.GetSuggestions()[0].GetOrganizationId() {
		t.Errorf("the token with the same organizations reordered: %v %v", err, r.GetSuggestions())
	}
	for what, other := range map[string]query{
		"another organization":           {ids: []string{orgs[0], orgs[1], orgs[3]}},
		"one organization fewer":         {ids: []string{orgs[0], orgs[1]}},
		"every organization":             {},
		"another count per organization": {ids: q.ids, perOrg: 1},
	} {
		_, err := list(other, 1, tok)
		badPageToken(t, what, err)
	}
	_, err = list(q, 1, tok[:len(tok)/2]+"A"+tok[len(tok)/2+1:]+"A")
	badPageToken(t, "an altered token", err)
}
