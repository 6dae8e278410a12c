package stack_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/google/uuid"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authzv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/authz/v1"
	_ "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	_ "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
	_ "github.com/orgplane/orgplane/pkg/gen/orgplane/notification/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/rpc"
)

// The permission matrix: every REST route, read from the google.api.http options of the protos
// (and checked against the served OpenAPI document), called through the gateway by every kind of
// principal. What each call must answer is derived from the route's (orgplane.authz.v1.rule) and
// the principal's role as the account's roles list reports it, never written by hand: a refusal
// (403, 401 without a credential, 404 for another account) exactly when the rule refuses, and
// anything but 401/403 when it admits (a 400, 404 or 409 of an admitted call is the route's own
// business). Requests are built from real ids of the account so that admitted calls mostly
// succeed, which the test checks for the administrator and the operator.
//
// Two kinds of route answer to no role (issue 18): public routes (signing in, redeeming a link),
// which every caller reaches, credential or not, as the gateway; and a signed-in person's own
// routes (/v1/me..., signing out), which only a session reaches: an API key, even one acting as
// a user, and the operator get 403. A person signed in with a cookie (and the CSRF token) is a
// principal of the matrix like the keys, with the administrator's role.

// matrixRoute is one REST binding of an RPC with the rule the RPC declares.
type matrixRoute struct {
	rpc      string // short method name, the key of matrixRequests
	verb     string
	template string // "/v1/accounts/{account_id}/users/{user.id}"
	caller   authzv1.Caller
	perms    []string
	// public routes take no credential (Rule.public).
	public bool
	// streaming routes stay open: they are called with openStream (streams_test.go).
	streaming bool
}

func (r matrixRoute) String() string { return r.verb + " " + r.template }

// rule says who the route admits, for the matrix's table.
func (r matrixRoute) rule() string {
	who := map[authzv1.Caller]string{
		authzv1.Caller_CALLER_OPERATOR: "operator", authzv1.Caller_CALLER_SERVICE: "services",
		authzv1.Caller_CALLER_MEMBER: "member", authzv1.Caller_CALLER_OPERATOR_OR_MEMBER: "operator or member",
		authzv1.Caller_CALLER_SIGNED_IN_USER: "signed-in person",
	}[r.caller]
	switch {
	case r.public:
		return "anyone (public)"
	case r.caller != authzv1.Caller_CALLER_MEMBER && r.caller != authzv1.Caller_CALLER_OPERATOR_OR_MEMBER:
		return who
	case len(r.perms) == 0:
		return who + " (any)"
	}
	return who + " with " + strings.Join(r.perms, " + ")
}

var pathVar = regexp.MustCompile(`\{([^}=]+)(=[^}]*)?\}`)

// matrixRoutes reads every REST route and its rule from the registered proto descriptors.
func matrixRoutes(t *testing.T) []matrixRoute {
	t.Helper()
	var out []matrixRoute
	full := map[string]protoreflect.FullName{} // short name -> method, to keep matrixRequests' keys unambiguous
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(f.Package()), "orgplane.") {
			return true
		}
		for i := range f.Services().Len() {
			sd := f.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				caller, perms, err := rpc.MethodRule(md)
				if err != nil {
					t.Errorf("%s: %v", md.FullName(), err)
				}
				http, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
				if http == nil {
					continue // no REST route (service-to-service only)
				}
				if prev, dup := full[string(md.Name())]; dup && prev != md.FullName() {
					t.Fatalf("%s and %s both have REST routes: key matrixRequests by more than the method name", prev, md.FullName())
				}
				full[string(md.Name())] = md.FullName()
				for _, b := range append([]*annotations.HttpRule{http}, http.GetAdditionalBindings()...) {
					verb, path := httpPattern(b)
					out = append(out, matrixRoute{rpc: string(md.Name()), verb: verb, template: path, caller: caller, perms: perms,
						public: rpc.PublicMethod(md), streaming: md.IsStreamingServer()})
				}
			}
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].template+out[i].verb < out[j].template+out[j].verb })
	return out
}

func httpPattern(b *annotations.HttpRule) (verb, path string) {
	switch p := b.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return "GET", p.Get
	case *annotations.HttpRule_Post:
		return "POST", p.Post
	case *annotations.HttpRule_Put:
		return "PUT", p.Put
	case *annotations.HttpRule_Patch:
		return "PATCH", p.Patch
	case *annotations.HttpRule_Delete:
		return "DELETE", p.Delete
	case *annotations.HttpRule_Custom:
		return strings.ToUpper(p.Custom.GetKind()), p.Custom.GetPath()
	}
	return "", ""
}

// shape is a route with its variables blanked, to compare proto routes with OpenAPI paths.
func shape(verb, path string) string {
	return strings.ToUpper(verb) + " " + pathVar.ReplaceAllString(path, "{}")
}

// matrixPrincipal is one caller of the matrix.
type matrixPrincipal struct {
	name  string
	token string
	// operator, member (of the matrix account, by API key), session (a member signed in with a
	// cookie), foreign (another account's administrator) or anonymous (no credential).
	kind string
	// levels is the principal's role, area -> PermissionLevel name, as the API reports it.
	levels map[string]string
	// user is the member's user.
	user string
	// sess is the session principal's browser (its cookie and CSRF token).
	sess *browser
}

// holds reports whether a member's role grants perm ("area:read" / "area:write").
func (p matrixPrincipal) holds(perm string) bool {
	area, level, _ := strings.Cut(perm, ":")
	switch p.levels[area] {
	case orgv1.PermissionLevel_PERMISSION_LEVEL_FULL.String():
		return true
	case orgv1.PermissionLevel_PERMISSION_LEVEL_READ_ONLY.String():
		return level == "read"
	}
	return false
}

// admits is the rule, evaluated here independently of the interceptor that enforces it.
func (r matrixRoute) admits(p matrixPrincipal) bool {
	if r.public {
		return true // the gateway calls it as itself, whoever asks
	}
	switch p.kind {
	case "operator":
		return r.caller == authzv1.Caller_CALLER_OPERATOR || r.caller == authzv1.Caller_CALLER_OPERATOR_OR_MEMBER
	case "member", "session":
		if p.kind == "session" && r.caller == authzv1.Caller_CALLER_SIGNED_IN_USER {
			return true
		}
		if r.caller != authzv1.Caller_CALLER_MEMBER && r.caller != authzv1.Caller_CALLER_OPERATOR_OR_MEMBER {
			return false
		}
		for _, perm := range r.perms {
			if !p.holds(perm) {
				return false
			}
		}
		return true
	}
	return false
}

// matrixFixtures are the real ids a matrix request is built from.
type matrixFixtures struct {
	w            *world
	account      msp
	vars         map[string]string // path variable -> id
	nothingRole  string            // a role granting nothing: a harmless role to give
	nobodyUser   string            // a user with that role who sees no organization
	group        string            // the group-limited principal's group
	reactivation string            // an organization deactivated during the setup
	// The session principal's sign-in (its password changes when the matrix changes it).
	sessionEmail, sessionPassword string
	n                             int
}

func (fx *matrixFixtures) next() int { fx.n++; return fx.n }

// freshOrganization creates an organization in the group-limited principal's group, as the
// operator, for a call that consumes one.
func (fx *matrixFixtures) freshOrganization() string {
	return fx.w.createOrg(fx.account, operatorToken, fmt.Sprintf(`{"name":"Matrix throwaway %d","groupIds":["%s"]}`, fx.next(), fx.group))["id"].(string)
}

// freshKey creates a key that grants nothing, for a call that revokes one.
func (fx *matrixFixtures) freshKey() string {
	return fx.w.must(200, "POST", "/v1/accounts/"+fx.account.id+"/apiKeys", fx.account.adminKey, fmt.Sprintf(
		`{"name":"Matrix victim %d","roleId":"%s","userId":"%s"}`, fx.next(), fx.nothingRole, fx.nobodyUser))["apiKey"].(map[string]any)["id"].(string)
}

// freshRole creates a custom role that grants nothing, for a call that deletes one.
func (fx *matrixFixtures) freshRole() string {
	return fx.w.must(200, "POST", "/v1/accounts/"+fx.account.id+"/roles", fx.account.adminKey,
		fmt.Sprintf(`{"name":"Matrix doomed %d","permissions":{}}`, fx.next()))["id"].(string)
}

// psa points a sync-settings call at the matrix's Autotask integration (sync settings are for PSAs).
func (fx *matrixFixtures) psa() map[string]string {
	return map[string]string{"integration_id": fx.vars["psa_integration_id"]}
}

// rowVersion is the mapping grid's version of an organization's row, as the administrator reads
// it (0 until mapping has heard of the organization).
func (fx *matrixFixtures) rowVersion(orgID string) int {
	grid := fx.w.must(200, "GET", "/v1/accounts/"+fx.account.id+"/mappingGrid?pageSize=1000", fx.account.adminKey, "")
	for _, r := range grid["rows"].([]any) {
		if row := r.(map[string]any); row["organizationId"] == orgID {
			var v int
			fmt.Sscan(fmt.Sprint(row["version"]), &v)
			return v
		}
	}
	return 0
}

// freshIntegration returns a generic-tool integration for a call that deletes one: the one left
// by a refused call, else a new one (an account has one integration of each kind).
func (fx *matrixFixtures) freshIntegration() string {
	acct := "/v1/accounts/" + fx.account.id + "/integrations"
	for _, in := range fx.w.must(200, "GET", acct, fx.account.adminKey, "")["integrations"].([]any) {
		if m := in.(map[string]any); m["kind"] == "generic" {
			return m["id"].(string)
		}
	}
	return fx.w.must(200, "POST", acct, fx.account.adminKey, `{"kind":"generic","settings":{"listUrl":"http://127.0.0.1:9/clients","namePath":"name"}}`)["id"].(string)
}

// withAccountLogo sets the account's logo again, for a call that reads or deletes it.
func (fx *matrixFixtures) withAccountLogo() map[string]string {
	fx.w.must(200, "PUT", "/v1/accounts/"+fx.account.id+"/logo", fx.account.adminKey, matrixLogo())
	return nil
}

// ssoProvider is the stack's OIDC provider as the account's identity provider.
func (fx *matrixFixtures) ssoProvider() string {
	st := fx.w.st
	b, _ := json.Marshal(map[string]string{"issuer": st.OIDC.Issuer, "clientId": st.OIDCClientID, "clientSecret": st.OIDCClientSecret})
	return string(b)
}

// withSSOProvider sets the account's identity provider up again, for a call that reads or
// deletes it.
func (fx *matrixFixtures) withSSOProvider() map[string]string {
	fx.w.must(200, "PUT", "/v1/accounts/"+fx.account.id+"/singleSignOnProvider", fx.account.adminKey, fx.ssoProvider())
	return nil
}

// matrixRequest builds valid-enough requests for one RPC's route.
type matrixRequest struct {
	query string
	// body returns the JSON body ("" for none).
	body func(fx *matrixFixtures, p matrixPrincipal) string
	// vars overrides path variables for a call the rule admits, or prepares what the call
	// consumes.
	vars func(fx *matrixFixtures) map[string]string
	// mayFail explains why an admitted call by the administrator or the operator need not
	// succeed.
	mayFail string
	// endsSession: the call closes the caller's session, so the session principal signs in
	// again after it.
	endsSession bool
}

// jsonBody is a fixed body in which "%N" becomes a fresh number, for names that must be unique.
func jsonBody(body string) func(*matrixFixtures, matrixPrincipal) string {
	return func(fx *matrixFixtures, _ matrixPrincipal) string {
		return strings.ReplaceAll(body, "%N", fmt.Sprint(fx.next()))
	}
}

func matrixLogo() string {
	return `{"data":"` + base64.StdEncoding.EncodeToString(pngOf(40, 20)) + `"}`
}

// matrixRequests has a request for each RPC with a REST route.
var matrixRequests = map[string]matrixRequest{
	"CreateAccount":         {body: jsonBody(`{"account":{"displayName":"Matrix extra %N"},"administrator":{"firstName":"Ada","lastName":"Admin","email":"ada%N@example.com"}}`)},
	"GetAccount":            {},
	"ListAccounts":          {},
	"GetAccountSettings":    {},
	"GetSettingsVocabulary": {},
	"UpdateAccountSettings": {query: "updateMask=companyName", body: jsonBody(`{"companyName":"Matrix %N"}`)},
	"SetAccountLogo":        {body: func(*matrixFixtures, matrixPrincipal) string { return matrixLogo() }},
	"GetAccountLogo":        {vars: (*matrixFixtures).withAccountLogo},
	"DeleteAccountLogo":     {vars: (*matrixFixtures).withAccountLogo},

	"CreateUser": {body: func(fx *matrixFixtures, _ matrixPrincipal) string {
		n := fx.next()
		return fmt.Sprintf(`{"firstName":"Matrix","lastName":"User %d","email":"matrix%d@example.com","roleId":"%s","allOrganizations":false}`, n, n, fx.nothingRole)
	}},
	"GetUser":    {},
	"ListUsers":  {},
	"UpdateUser": {query: "updateMask=firstName", body: jsonBody(`{"firstName":"Renamed %N"}`)},
	"CreateRole": {body: jsonBody(`{"name":"Matrix role %N","permissions":{}}`)},
	"ListRoles":  {},
	"UpdateRole": {query: "updateMask=name", body: jsonBody(`{"name":"Matrix target %N"}`)},
	// A custom role nobody holds, made for each admitted call.
	"DeleteRole": {vars: func(fx *matrixFixtures) map[string]string {
		return map[string]string{"role_id": fx.freshRole()}
	}},
	"CreateApiKey": {body: func(fx *matrixFixtures, _ matrixPrincipal) string {
		return fmt.Sprintf(`{"name":"Matrix key %d","roleId":"%s","userId":"%s"}`, fx.next(), fx.nothingRole, fx.nobodyUser)
	}},
	"ListApiKeys": {},
	"RevokeApiKey": {body: jsonBody(`{}`), vars: func(fx *matrixFixtures) map[string]string {
		return map[string]string{"api_key_id": fx.freshKey()}
	}},

	"CreateOrganization": {body: func(fx *matrixFixtures, _ matrixPrincipal) string {
		return fmt.Sprintf(`{"name":"Matrix created %d","groupIds":["%s"]}`, fx.next(), fx.group)
	}},
	"BulkCreateOrganizations": {body: jsonBody(`{"organizations":[{"name":"Matrix bulk %N"}]}`)},
	"GetOrganization":         {},
	"ListOrganizations":       {},
	"UpdateOrganization":      {query: "updateMask=notes", body: jsonBody(`{"notes":"Matrix note %N"}`)},
	"DeactivateOrganization": {body: jsonBody(`{}`), vars: func(fx *matrixFixtures) map[string]string {
		return map[string]string{"organization_id": fx.freshOrganization()}
	}},
	"ReactivateOrganization": {
		body: func(_ *matrixFixtures, p matrixPrincipal) string {
			if p.kind == "operator" {
				return `{"overrideCooldown":true}`
			}
			return `{}`
		},
		vars: func(fx *matrixFixtures) map[string]string {
			return map[string]string{"organization_id": fx.reactivation}
		},
		mayFail: "only the operator may reactivate within 12 months of the deactivation",
	},
	"DeleteOrganization": {vars: func(fx *matrixFixtures) map[string]string {
		return map[string]string{"organization_id": fx.freshOrganization()}
	}},
	"SetOrganizationLogo":      {body: func(*matrixFixtures, matrixPrincipal) string { return matrixLogo() }},
	"GetOrganizationLogo":      {},
	"CreateOrganizationType":   {body: jsonBody(`{"name":"Matrix type %N"}`)},
	"ListOrganizationTypes":    {},
	"CreateOrganizationStatus": {body: jsonBody(`{"name":"Matrix status %N"}`)},
	"ListOrganizationStatuses": {},
	"CreateGroup":              {body: jsonBody(`{"name":"Matrix group %N","color":"#112233"}`)},
	"ListGroups":               {},
	"UpdateGroup":              {query: "updateMask=color", body: jsonBody(`{"color":"#445566"}`)},

	"CreateReview": {body: func(fx *matrixFixtures, _ matrixPrincipal) string {
		return fmt.Sprintf(`{"organizationId":"%s","title":"Matrix review %d"}`, fx.vars["organization_id"], fx.next())
	}},
	"GetReview":      {},
	"ListReviews":    {},
	"ReassignReview": {body: jsonBody(`{"engineerDueDate":"2027-01-15"}`)},

	"GetSubscription":    {},
	"UpdateSubscription": {query: "updateMask=unlimited", body: jsonBody(`{"unlimited":true}`)},
	"AddLicenses":        {body: jsonBody(`{"count":1}`), mayFail: "an unlimited subscription has no licenses to add"},
	"RemoveLicenses":     {body: jsonBody(`{"count":1}`), mayFail: "an unlimited subscription has no licenses to remove"},
	"GetLicenseUsage":    {},
	"ListLicenseChanges": {},
	"ListUsageHistory": {query: "startDate=" + time.Now().UTC().AddDate(0, 0, -7).Format(time.DateOnly) +
		"&endDate=" + time.Now().UTC().Format(time.DateOnly)},

	"ListOrganizationLinks": {},

	"ListIntegrationKinds": {},
	"CreateIntegration": {body: jsonBody(`{"kind":"connectwise","displayName":"Matrix CW %N","endpoint":"http://127.0.0.1:9",` +
		`"credentials":{"site":"cw.example","companyId":"m","publicKey":"p","privateKey":"k","clientId":"c"}}`),
		mayFail: "an account has one integration of each kind: the first admitted call makes it"},
	"GetIntegration":    {},
	"ListIntegrations":  {},
	"UpdateIntegration": {query: "updateMask=displayName", body: jsonBody(`{"displayName":"Matrix IT Glue %N"}`)},
	"DeleteIntegration": {vars: func(fx *matrixFixtures) map[string]string {
		return map[string]string{"integration_id": fx.freshIntegration()}
	}},
	"TestIntegration":    {body: jsonBody(`{}`)},
	"RefreshIntegration": {body: jsonBody(`{"mode":"REFRESH_MODE_FULL"}`)},
	"GetOperation":       {},
	"ListOperations":     {},
	"CancelOperation": {body: jsonBody(`{}`),
		mayFail: "the refresh (of a tool that does not answer) may have ended, or been cancelled by an earlier call"},
	"ListExternalOrganizations": {},
	"ListOrphans":               {},

	"PreviewSyncSettings": {vars: (*matrixFixtures).psa, body: jsonBody(`{"direction":"SYNC_DIRECTION_TWO_WAY","scope":{"psaStatusIds":["1"]}}`)},
	"UpdateSyncSettings":  {vars: (*matrixFixtures).psa, body: jsonBody(`{"direction":"SYNC_DIRECTION_TWO_WAY","scope":{"psaStatusIds":["1"]}}`)},

	// The matrix's IT Glue integration has no cached organization (its tool never answers): an
	// admitted call is 404, a refused one 403 or 404 as for every route.
	"DisableSync": {body: jsonBody(`{}`), mayFail: "the matrix's integration caches no organization"},
	"EnableSync":  {body: jsonBody(`{}`), mayFail: "the matrix's integration caches no organization"},

	"ListOrganizationSyncs": {},
	"ListSyncLog":           {},
	// No orphan of that id: an admitted call answers 200 with a per-item ORPHAN_NOT_FOUND.
	"ResolveOrphans": {body: func(fx *matrixFixtures, _ matrixPrincipal) string {
		return fmt.Sprintf(`{"action":"ORPHAN_ACTION_DISMISS","orphans":[{"integrationId":%q,"externalId":"matrix-none"}]}`, fx.vars["integration_id"])
	}},
	// Pausing the matrix's Autotask integration (whose tool never answers) and resuming it: both
	// repeatable, neither deletes what another route's call needs.
	"DisconnectIntegration": {vars: (*matrixFixtures).psa, body: jsonBody(`{"mode":"DISCONNECT_MODE_PAUSE"}`)},
	"ResumeIntegration":     {vars: (*matrixFixtures).psa, body: jsonBody(`{}`)},

	"GetMappingGrid": {},
	"SaveMappings": {body: func(fx *matrixFixtures, _ matrixPrincipal) string {
		// Unlinking what is not linked changes nothing but the row's version, which it must name.
		return fmt.Sprintf(`{"changes":[{"organizationId":%q,"version":%d,"integrationId":%q,"externalOrganizationId":""}]}`,
			fx.vars["organization_id"], fx.rowVersion(fx.vars["organization_id"]), fx.vars["integration_id"])
	}},
	"ListMatchSuggestions": {},
	"ListImportCandidates": {},
	"ImportOrganizations": {body: func(*matrixFixtures, matrixPrincipal) string {
		return fmt.Sprintf(`{"requestId":%q,"externalOrganizationIds":["matrix-unknown"]}`, uuid.NewString())
	}},
	"GetImport":       {},
	"ListImportItems": {},

	// The feed is the caller's own: the matrix's notification is the administrator's, so
	// another member marking it read gets 404, as for anyone else's.
	"ListNotifications":        {},
	"GetUnreadCount":           {},
	"MarkNotificationRead":     {body: jsonBody(`{}`)},
	"MarkAllNotificationsRead": {body: jsonBody(`{}`)},
	// A stream: openStream takes its status (200 once the service accepted it) and hangs up.
	"StreamNotifications":           {},
	"GetNotificationPreferences":    {},
	"UpdateNotificationPreferences": {body: jsonBody(`{"preferences":[{"kind":"NOTIFICATION_KIND_REVIEW_REMINDER","email":true,"inApp":true}]}`)},
	"GetNotificationSettings":       {},
	"UpdateNotificationSettings":    {query: "updateMask=reminderQuietDays", body: jsonBody(`{"reminderQuietDays":7}`)},
	"ListDeliveries":                {},

	// Sign-in (issue 18). Public routes: every principal signs in as the session principal's
	// user, asks a reset for an address with no password, and redeems a token that is no link.
	"SignIn": {body: func(fx *matrixFixtures, _ matrixPrincipal) string {
		b, _ := json.Marshal(map[string]string{"email": fx.sessionEmail, "password": fx.sessionPassword})
		return string(b)
	}},
	"RequestPasswordReset": {body: jsonBody(`{"email":"nobody@matrix.example"}`)},
	"ResetPassword": {body: jsonBody(`{"token":"opl_matrix-not-a-link","newPassword":"Matrix reset %N password"}`),
		mayFail: "a link token is single-use and mailed; the matrix sends one that is no link (400 naming token)"},
	"AcceptInvitation": {body: jsonBody(`{"token":"opl_matrix-not-a-link","password":"Matrix invited %N password"}`),
		mayFail: "a link token is single-use and mailed; the matrix sends one that is no link (400 naming token)"},
	"InviteUser": {body: jsonBody(`{}`)},
	// The signed-in person's own routes.
	"GetCurrentUser":      {},
	"ListMySessions":      {},
	"SignOut":             {body: jsonBody(`{}`), endsSession: true},
	"RevokeAllMySessions": {body: jsonBody(`{}`), endsSession: true},
	// Another session of the same person: the principal's own goes on.
	"RevokeMySession": {body: jsonBody(`{}`), vars: func(fx *matrixFixtures) map[string]string {
		other := newBrowser(fx.w.suite)
		other.mustSignIn(fx.sessionEmail, fx.sessionPassword)
		return map[string]string{"session_id": other.sessionID()}
	}},
	// Two-step verification of the session principal: it starts an enrollment (harmless: a
	// pending secret until confirmed) but never turns it on, or its next sign-in would need a code.
	"StartTwoStepEnrollment": {body: jsonBody(`{}`)},
	"ConfirmTwoStepEnrollment": {body: jsonBody(`{"code":"000000"}`),
		mayFail: "the matrix never confirms: a real code would turn two-step on for the session principal (400 naming code)"},
	"DisableTwoStep": {body: func(fx *matrixFixtures, _ matrixPrincipal) string {
		b, _ := json.Marshal(map[string]string{"password": fx.sessionPassword, "code": "000000"})
		return string(b)
	}, mayFail: "the matrix's person has no two-step verification to turn off"},
	"RegenerateRecoveryCodes": {body: jsonBody(`{"code":"000000"}`),
		mayFail: "the matrix's person has no two-step verification, so no recovery codes"},
	// A user with nothing to reset: an admitted call succeeds and changes nothing.
	"ResetUserTwoStep": {body: jsonBody(`{}`), vars: func(fx *matrixFixtures) map[string]string {
		return map[string]string{"user_id": fx.nobodyUser}
	}},
	// Sign-in steps that need a challenge or a flow the matrix does not have: an admitted call is
	// 400 naming the token, the state or the code.
	"VerifySignInCode": {body: jsonBody(`{"challengeToken":"opc_matrix-not-a-challenge","code":"000000"}`),
		mayFail: "a challenge comes from a password sign-in of a user with two-step on"},
	"StartSignInEnrollment": {body: jsonBody(`{"challengeToken":"opc_matrix-not-a-challenge"}`),
		mayFail: "a challenge comes from a password sign-in to an account that requires two-step"},
	"CompleteSignInEnrollment": {body: jsonBody(`{"challengeToken":"opc_matrix-not-a-challenge","code":"000000"}`),
		mayFail: "a challenge comes from a password sign-in to an account that requires two-step"},
	// Single sign-on: the stack's provider as the account's.
	"GetSingleSignOnProvider":    {vars: (*matrixFixtures).withSSOProvider},
	"UpdateSingleSignOnProvider": {body: func(fx *matrixFixtures, _ matrixPrincipal) string { return fx.ssoProvider() }},
	"DeleteSingleSignOnProvider": {vars: (*matrixFixtures).withSSOProvider},
	"StartSingleSignOn": {body: func(fx *matrixFixtures, _ matrixPrincipal) string {
		return fmt.Sprintf(`{"accountId":%q}`, fx.account.id)
	}, vars: (*matrixFixtures).withSSOProvider},
	// Without state and code: 400 naming them. (A callback of an unknown flow is 401, the answer
	// of a failed sign-in, which the matrix would take for a credential check.)
	"CompleteSingleSignOn": {mayFail: "a callback needs a flow started in the same browser and the provider's code"},
	// The session principal's password changes (and its other sessions close); the others'
	// bodies never reach org.
	"ChangePassword": {body: func(fx *matrixFixtures, p matrixPrincipal) string {
		if p.kind != "session" {
			return `{"currentPassword":"Matrix not it at all","newPassword":"Matrix never used 1"}`
		}
		next := "Matrix changed " + fmt.Sprint(fx.next()) + " password"
		b, _ := json.Marshal(map[string]string{"currentPassword": fx.sessionPassword, "newPassword": next})
		fx.sessionPassword = next
		return string(b)
	}},
}

// roleBody is a custom role granting level in the areas given, None elsewhere.
func roleBody(t *testing.T, name string, level orgv1.PermissionLevel, areas ...string) string {
	t.Helper()
	perms := &orgv1.Permissions{}
	fields := perms.ProtoReflect().Descriptor().Fields()
	for _, area := range areas {
		f := fields.ByName(protoreflect.Name(area))
		if f == nil {
			t.Fatalf("the role model has no area %q", area)
		}
		perms.ProtoReflect().Set(f, protoreflect.ValueOfEnum(level.Number()))
	}
	b, err := protojson.Marshal(&orgv1.Role{Name: name, Permissions: perms})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ruleAreas is every area a rule can name, from the rule's own enum.
func ruleAreas() []string {
	var out []string
	values := authzv1.Area(0).Descriptor().Values()
	for i := range values.Len() {
		if a := authzv1.Area(values.Get(i).Number()); a != authzv1.Area_AREA_UNSPECIFIED {
			out = append(out, strings.TrimSuffix(rpc.PermissionString(a, authzv1.Level_LEVEL_READ), ":read"))
		}
	}
	return out
}

// setUpMatrix creates the account, its fixtures and one principal of each kind.
func setUpMatrix(t *testing.T, w *world) (*matrixFixtures, []matrixPrincipal) {
	t.Helper()
	a := w.newMSP("Matrix MSP")
	foreign := w.newMSP("Other MSP")
	acct := "/v1/accounts/" + a.id
	fx := &matrixFixtures{w: w, account: a}

	// Licenses never run out while the matrix creates organizations.
	w.subscribed(a)
	w.must(200, "PATCH", acct+"/subscription?updateMask=unlimited", operatorToken, `{"unlimited":true}`)

	fx.group = w.must(200, "POST", acct+"/groups", a.adminKey, `{"name":"Matrix visible","color":"#000000"}`)["id"].(string)
	otherGroup := w.must(200, "POST", acct+"/groups", a.adminKey, `{"name":"Matrix edited","color":"#000000"}`)["id"].(string)
	org := w.createOrg(a, a.adminKey, fmt.Sprintf(`{"name":"Matrix target","groupIds":["%s"]}`, fx.group))["id"].(string)
	w.must(200, "PUT", acct+"/organizations/"+org+"/logo", a.adminKey, matrixLogo())
	w.must(200, "PUT", acct+"/logo", a.adminKey, matrixLogo())
	fx.reactivation = w.createOrg(a, a.adminKey, fmt.Sprintf(`{"name":"Matrix deactivated","groupIds":["%s"]}`, fx.group))["id"].(string)
	w.must(200, "POST", acct+"/organizations/"+fx.reactivation+":deactivate", a.adminKey, `{}`)
	review := w.must(200, "POST", acct+"/reviews", a.adminKey, fmt.Sprintf(`{"organizationId":"%s","title":"Matrix review"}`, org))["id"].(string)

	fx.nothingRole = w.must(200, "POST", acct+"/roles", a.adminKey, roleBody(t, "Matrix nothing", orgv1.PermissionLevel_PERMISSION_LEVEL_NONE))["id"].(string)
	targetRole := w.must(200, "POST", acct+"/roles", a.adminKey, roleBody(t, "Matrix target", orgv1.PermissionLevel_PERMISSION_LEVEL_NONE))["id"].(string)
	fx.nobodyUser = w.must(200, "POST", acct+"/users", a.adminKey, fmt.Sprintf(
		`{"firstName":"No","lastName":"Body","email":"nobody@matrix.example","roleId":"%s","allOrganizations":false}`, fx.nothingRole))["id"].(string)
	victimKey := fx.freshKey()

	// An IT Glue integration whose tool does not answer (nothing listens on port 9): calls
	// on it are admitted or refused by the rules alone, and its refresh stays an operation.
	integ := w.must(200, "POST", acct+"/integrations", a.adminKey,
		`{"kind":"itglue","endpoint":"http://127.0.0.1:9","credentials":{"apiKey":"matrix-key"}}`)["id"].(string)
	operation := w.must(200, "POST", acct+"/integrations/"+integ+":refresh", a.adminKey, `{"mode":"REFRESH_MODE_FULL"}`)["id"].(string)

	// An import (of nothing importable): mapping learns of the integration from its event, so the
	// first tries may not find it yet.
	var imp string
	for deadline := time.Now().Add(15 * time.Second); imp == ""; {
		r := w.do("POST", acct+"/integrations/"+integ+":import", a.adminKey,
			fmt.Sprintf(`{"requestId":%q,"externalOrganizationIds":["matrix-unknown"]}`, uuid.NewString()))
		switch {
		case r.code == 200:
			imp = r.json(t)["id"].(string)
		case r.code != 404 || time.Now().After(deadline):
			t.Fatalf("import fixture: %d %s", r.code, r.body)
		default:
			time.Sleep(50 * time.Millisecond)
		}
	}

	psa := w.must(200, "POST", acct+"/integrations", a.adminKey,
		`{"kind":"autotask","endpoint":"http://127.0.0.1:9","credentials":{"apiUser":"m","secret":"s","integrationCode":"c"}}`)["id"].(string)

	fx.vars = map[string]string{
		"psa_integration_id": psa,
		"external_id":        "matrix-none",
		"integration_id":     integ, "integration.id": integ, "operation_id": operation, "import_id": imp,
		"account_id": a.id, "user_id": fx.nobodyUser, "user.id": fx.nobodyUser,
		"organization_id": org, "organization.id": org, "review_id": review,
		"role.id": targetRole, "role_id": targetRole, "group.id": otherGroup, "api_key_id": victimKey,
		// Nobody's session: the routes that name one admit the session principal only, which
		// gets one of its own (matrixRequests).
		"session_id": uuid.NewString(),
	}

	// A custom role per area, Full in that area only, and one Read-only everywhere.
	for _, area := range ruleAreas() {
		w.must(200, "POST", acct+"/roles", a.adminKey, roleBody(t, "Only "+area, orgv1.PermissionLevel_PERMISSION_LEVEL_FULL, area))
	}
	w.must(200, "POST", acct+"/roles", a.adminKey, roleBody(t, "Read-only", orgv1.PermissionLevel_PERMISSION_LEVEL_READ_ONLY, ruleAreas()...))

	var roles struct {
		Roles []struct {
			Name        string            `json:"name"`
			Permissions map[string]string `json:"permissions"`
		} `json:"roles"`
	}
	if err := json.Unmarshal(w.do("GET", acct+"/roles", a.adminKey, "").body, &roles); err != nil {
		t.Fatal(err)
	}
	// The API names areas in JSON (apiKeys); the rules name them as in proto (api_keys).
	jsonArea := map[string]string{}
	fields := (&orgv1.Permissions{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		jsonArea[fields.Get(i).JSONName()] = string(fields.Get(i).Name())
	}
	levels := map[string]map[string]string{}
	for _, r := range roles.Roles {
		levels[r.Name] = map[string]string{}
		for k, v := range r.Permissions {
			levels[r.Name][jsonArea[k]] = v
		}
	}
	member := func(name, role string, groups ...string) matrixPrincipal {
		email := strings.ToLower(strings.NewReplacer(" ", "-", "(", "", ")", "").Replace(name)) + "@matrix.example"
		user, key := w.keyFor(a, email, role, groups...)
		if levels[role] == nil {
			t.Fatalf("no role %q in the roles list", role)
		}
		return matrixPrincipal{name: name, token: key, kind: "member", levels: levels[role], user: user}
	}
	principals := []matrixPrincipal{
		member("IT Provider Admin", "IT Provider Admin"),
		member("vCIO", "vCIO"),
		member("Engineer", "Engineer"),
	}
	for _, area := range ruleAreas() {
		principals = append(principals, member("Only "+area, "Only "+area))
	}
	principals = append(principals,
		member("group-limited (IT Provider Admin role)", "IT Provider Admin", fx.group),
		member("read-only key", "Read-only"),
		signedInMember(t, w, fx, a, levels["IT Provider Admin"]),
		matrixPrincipal{name: "another account's administrator", token: foreign.adminKey, kind: "foreign"},
		matrixPrincipal{name: "no credential", kind: "anonymous"},
		// Last: its calls (the cooldown override) may undo what a member's call needs.
		matrixPrincipal{name: "platform operator", token: operatorToken, kind: "operator"},
	)
	// A notification in the administrator's feed (the feed is each user's own: to the other
	// members it does not exist), for the routes that name one.
	w.must(200, "POST", acct+"/reviews/"+review+":reassign", a.adminKey, fmt.Sprintf(`{"engineerId":%q}`, principals[0].user))
	fx.vars["notification_id"] = w.waitNotification(a, principals[0].token, review)
	return fx, principals
}

// signedInMember is a person with the IT Provider Admin role who set their password through an
// invitation and signed in: the matrix's session principal.
func signedInMember(t *testing.T, w *world, fx *matrixFixtures, a msp, levels map[string]string) matrixPrincipal {
	t.Helper()
	fx.sessionEmail, fx.sessionPassword = "signed-in@matrix.example", "Matrix first password 1"
	b, _ := json.Marshal(map[string]any{"firstName": "Signed", "lastName": "In", "email": fx.sessionEmail,
		"roleId": w.roleID(a, "IT Provider Admin"), "allOrganizations": true})
	user := w.must(200, "POST", "/v1/accounts/"+a.id+"/users", a.adminKey, string(b))["id"].(string)
	w.giveSignIn(a, user, fx.sessionEmail, fx.sessionPassword, 1)
	sess := newBrowser(w.suite)
	sess.mustSignIn(fx.sessionEmail, fx.sessionPassword)
	if levels == nil {
		t.Fatal("no IT Provider Admin role in the roles list")
	}
	return matrixPrincipal{name: "signed-in person (cookie, IT Provider Admin role)", kind: "session", levels: levels, user: user, sess: sess}
}

func TestPermissionMatrix(t *testing.T) {
	// The world's helpers without its event tap: the matrix needs only the REST API.
	w := &world{suite: startSuite(t)}
	routes := matrixRoutes(t)

	// The matrix covers exactly the routes the gateway documents.
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if r := w.do("GET", "/openapi.json", "", ""); r.code != 200 || json.Unmarshal(r.body, &doc) != nil {
		t.Fatalf("openapi.json: %d", r.code)
	}
	var documented, fromProtos []string
	for path, ops := range doc.Paths {
		for verb := range ops {
			documented = append(documented, shape(verb, path))
		}
	}
	for _, r := range routes {
		fromProtos = append(fromProtos, shape(r.verb, r.template))
	}
	slices.Sort(documented)
	slices.Sort(fromProtos)
	if !slices.Equal(documented, fromProtos) {
		t.Fatalf("the OpenAPI document's routes differ from the protos':\n%v\n%v", documented, fromProtos)
	}

	fx, principals := setUpMatrix(t, w)
	var table strings.Builder
	table.WriteString("| route | rule |")
	for _, p := range principals {
		table.WriteString(" " + p.name + " |")
	}
	table.WriteString("\n|---|---|" + strings.Repeat("---|", len(principals)) + "\n")

	for _, rt := range routes {
		req, ok := matrixRequests[rt.rpc]
		if !ok {
			t.Errorf("%s (%s): no request in matrixRequests; add one so the route is called with real ids", rt, rt.rpc)
		}
		fmt.Fprintf(&table, "| `%s` | %s |", rt, rt.rule())
		for _, p := range principals {
			admitted := rt.admits(p)
			vars := fx.vars
			if admitted && req.vars != nil {
				vars = mergeVars(fx.vars, req.vars(fx))
			}
			path, err := fillPath(rt.template, vars)
			if err != nil {
				t.Fatalf("%s: %v", rt, err)
			}
			if req.query != "" {
				path += "?" + req.query
			}
			body := ""
			if req.body != nil {
				body = req.body(fx, p)
			} else if rt.verb == "POST" || rt.verb == "PUT" || rt.verb == "PATCH" {
				body = "{}"
			}
			var r response
			switch {
			case rt.streaming && p.sess != nil:
				r = p.sess.openStream(rt.verb, path)
			case rt.streaming:
				r = w.openStream(rt.verb, path, p.token)
			case p.sess != nil:
				r = p.sess.do(rt.verb, path, body, true)
			default:
				r = w.do(rt.verb, path, p.token, body)
			}
			fmt.Fprintf(&table, " %d |", r.code)
			if p.sess != nil && req.endsSession && r.code == http.StatusOK {
				p.sess.mustSignIn(fx.sessionEmail, fx.sessionPassword)
			}

			refusal := r.code == http.StatusForbidden || r.code == http.StatusUnauthorized
			// Who must succeed where the rule admits: the administrator and the operator on the
			// routes they reach, the signed-in person on their own routes, everyone on public ones.
			mustSucceed := p.kind == "operator" || p.name == "IT Provider Admin" ||
				p.kind == "session" && rt.caller == authzv1.Caller_CALLER_SIGNED_IN_USER
			switch {
			case r.code >= 500 || r.code < 0:
				t.Errorf("%s as %s: %d %s", rt, p.name, r.code, r.body)
			case rt.public && refusal:
				t.Errorf("%s as %s: %d %s, but the route is public: no credential is needed or looked at", rt, p.name, r.code, r.body)
			case rt.public:
				if r.code >= 300 && req.mayFail == "" {
					t.Errorf("%s as %s: %d %s; the matrix's request should succeed", rt, p.name, r.code, r.body)
				}
			case p.kind == "anonymous":
				if r.code != http.StatusUnauthorized {
					t.Errorf("%s without a credential: %d, want 401", rt, r.code)
				}
			case p.kind == "foreign":
				// Another tenant's path is refused as if it did not exist; a route for the
				// operator or services only is refused as such.
				want := http.StatusForbidden
				if rt.caller == authzv1.Caller_CALLER_MEMBER || rt.caller == authzv1.Caller_CALLER_OPERATOR_OR_MEMBER {
					want = http.StatusNotFound
				}
				if r.code != want {
					t.Errorf("%s as %s: %d %s, want %d", rt, p.name, r.code, r.body, want)
				}
			case admitted && refusal:
				t.Errorf("%s as %s: %d %s, but the rule (%s %v) admits this caller", rt, p.name, r.code, r.body, rt.caller, rt.perms)
			case !admitted && r.code != http.StatusForbidden:
				t.Errorf("%s as %s: %d %s, but the rule (%s %v) refuses this caller: want 403", rt, p.name, r.code, r.body, rt.caller, rt.perms)
			case admitted && r.code >= 300 && mustSucceed && req.mayFail == "":
				// Admitted calls are built to succeed: one that does not is a request the
				// matrix no longer builds right, so the route is not really exercised.
				t.Errorf("%s as %s: %d %s; the matrix's request should succeed", rt, p.name, r.code, r.body)
			}
		}
		table.WriteString("\n")
	}
	t.Logf("permission matrix (status codes):\n%s", table.String())
}

func mergeVars(base, over map[string]string) map[string]string {
	out := make(map[string]string, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// fillPath replaces a template's variables with fixture ids; a variable the matrix has no id for
// is an error, so a route with a new kind of path cannot slip through uncalled.
func fillPath(template string, vars map[string]string) (string, error) {
	var missing []string
	path := pathVar.ReplaceAllStringFunc(template, func(m string) string {
		name := pathVar.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no fixture id for path variables %v: add them to the matrix's fixtures", missing)
	}
	return path, nil
}
