package orgsvc_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// pngImage is a w×h PNG.
func pngImage(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.RGBA{R: 200, A: 255})
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

func TestBadInputIsRefusedNamingTheFieldAndNothingIsWritten(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	org := o.createOrg(a, &orgv1.Organization{Name: "Northwind Traders"})
	create := func(org *orgv1.Organization) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := o.orgs.CreateOrganization(ctx, &orgv1.CreateOrganizationRequest{AccountId: a.id, Organization: org})
			return err
		}
	}
	updateSettings := func(s *orgv1.AccountSettings, field string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := o.accounts.UpdateAccountSettings(ctx, &orgv1.UpdateAccountSettingsRequest{AccountId: a.id, Settings: s,
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{field}}})
			return err
		}
	}
	setLogo := func(data []byte) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := o.accounts.SetAccountLogo(ctx, &orgv1.SetAccountLogoRequest{AccountId: a.id, Data: data})
			return err
		}
	}
	svgWithScript := []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>`)
	// Invalid UTF-8 cannot even be encoded into a gRPC request; the gateway refuses it (see the
	// stack suite).
	for _, c := range []struct {
		name  string
		call  func(context.Context) error
		field string
	}{
		// Fields are named as REST clients spell them: the body of a create is the organization.
		{"name of 10,000 characters", create(&orgv1.Organization{Name: strings.Repeat("n", 10000)}), "name"},
		{"blank name (text is trimmed)", create(&orgv1.Organization{Name: "   "}), "name"},
		{"name with a control character", create(&orgv1.Organization{Name: "Con\atoso"}), "name"},
		{"name with NUL", create(&orgv1.Organization{Name: "Con\x00toso"}), "name"},
		{"name with a C1 control", create(&orgv1.Organization{Name: "Con\u0085toso"}), "name"},
		{"name with a right-to-left override", create(&orgv1.Organization{Name: "Con\u202etoso"}), "name"},
		{"unknown parent", create(&orgv1.Organization{Name: "Orphan", ParentId: "00000000-0000-4000-8000-000000000000"}), "parentId"},
		{"time zone on Mars", updateSettings(&orgv1.AccountSettings{TimeZone: "Mars/Olympus"}, "time_zone"), "timeZone"},
		{"a leap-second zone", updateSettings(&orgv1.AccountSettings{TimeZone: "right/UTC"}, "time_zone"), "timeZone"},
		{"unknown currency", updateSettings(&orgv1.AccountSettings{Currency: "XQZ"}, "currency"), "currency"},
		{"3 MiB logo", setLogo(bytes.Repeat([]byte{1}, 3<<20)), "data"},
		{"logo that is not an image", setLogo([]byte("just some text, not an image")), "data"},
		{"svg with a script", setLogo(svgWithScript), "data"},
	} {
		t.Run(c.name, func(t *testing.T) {
			requireInvalidField(t, c.name, c.call(a.admin), c.field)
		})
	}

	list, err := o.orgs.ListOrganizations(a.admin, &orgv1.ListOrganizationsRequest{AccountId: a.id})
	if err != nil || list.GetTotalSize() != 1 {
		t.Errorf("refused requests wrote organizations: %v (%v)", list, err)
	}
	st, err := o.accounts.GetAccountSettings(a.admin, &orgv1.GetAccountSettingsRequest{AccountId: a.id})
	if err != nil || st.GetTimeZone() != "UTC" || st.GetCurrency() != "USD" || st.GetHasLogo() {
		t.Errorf("refused requests changed settings: %v (%v)", st, err)
	}
	o.settle(a)
	if n := o.events.count("orgplane.org.v1.*.organization.created"); n != 1 {
		t.Errorf("%d organization.created events, want 1: refused creates published", n)
	}
	if n := o.events.count("orgplane.org.v1.*.account_settings.updated"); n != 0 {
		t.Errorf("%d account_settings.updated events: refused updates published", n)
	}

	// A good logo is scaled, stored and served with what a cache needs, as an organization's too.
	info, err := o.orgs.SetOrganizationLogo(a.admin, &orgv1.SetOrganizationLogoRequest{AccountId: a.id, OrganizationId: org.GetId(), Data: pngImage(520, 100)})
	if err != nil || info.GetWidth() != 260 || info.GetHeight() != 50 || info.GetContentType() != "image/png" {
		t.Fatalf("logo info = %v (%v)", info, err)
	}
	var header metadata.MD
	body, err := o.orgs.GetOrganizationLogo(a.admin, &orgv1.GetOrganizationLogoRequest{AccountId: a.id, OrganizationId: org.GetId()}, grpc.Header(&header))
	if err != nil || body.GetContentType() != "image/png" {
		t.Fatalf("logo: %v (%v)", body, err)
	}
	// The gateway turns these into ETag and Cache-Control.
	if etag := header.Get("x-http-etag"); len(etag) != 1 || etag[0] != `"`+info.GetSha256()+`"` {
		t.Errorf("logo ETag %v, want the content hash %q", etag, info.GetSha256())
	}
	if cc := header.Get("x-http-cache-control"); len(cc) != 1 || !strings.Contains(cc[0], "max-age") {
		t.Errorf("logo Cache-Control %v", cc)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(body.GetData()))
	if err != nil || cfg.Width != 260 || cfg.Height != 50 {
		t.Fatalf("served logo %dx%d (%v)", cfg.Width, cfg.Height, err)
	}

	// Valid settings are saved and published.
	got, err := o.accounts.UpdateAccountSettings(a.admin, &orgv1.UpdateAccountSettingsRequest{AccountId: a.id,
		Settings:   &orgv1.AccountSettings{TimeZone: "America/Chicago", Currency: "EUR", DateFormat: orgv1.DateFormat_DATE_FORMAT_DD_MM_YYYY},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"time_zone", "currency", "date_format"}}})
	if err != nil || got.GetTimeZone() != "America/Chicago" || got.GetCurrency() != "EUR" || got.GetDateFormat() != orgv1.DateFormat_DATE_FORMAT_DD_MM_YYYY {
		t.Fatalf("settings = %v (%v)", got, err)
	}
	waitEvent(o, "orgplane.org.v1.*.account_settings.updated", func(e *orgv1.AccountSettingsUpdated) bool {
		return e.GetAccountId() == a.id && e.GetSettings().GetTimeZone() == "America/Chicago" && e.GetSettings().GetCurrency() == "EUR" &&
			e.GetSettings().GetDateFormat() == orgv1.DateFormat_DATE_FORMAT_DD_MM_YYYY
	})
}
