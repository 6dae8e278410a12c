package render_test

import (
	"strings"
	"testing"

	"github.com/orgplane/orgplane/services/notification/internal/domain"
	"github.com/orgplane/orgplane/services/notification/internal/render"
)

func TestEveryKindRendersAndTheHTMLEscapesWhatPeopleTyped(t *testing.T) {
	t.Parallel()
	r := render.New()
	for _, k := range domain.Kinds() {
		d := render.Data{Kind: k, RecipientName: "Ann", AccountName: "Contoso", ReviewTitle: "<script>alert(1)</script>\r\nBcc: x@evil.test",
			OrganizationName: "Acme & Sons", Role: "engineer", At: "31/12/2026 17:05 CST", NewAssignee: "Bob", QuietDays: 7,
			Trouble: []render.TroubleLine{{What: "sync errors", Count: 2, Examples: []string{"<b>Company</b>"}}}, TroubleTotal: 2,
			ReviewURL: "https://app.test/reviews/1", UnsubscribeURL: "https://app.test/unsubscribe?token=a&b"}
		m, err := r.Email(d)
		if err != nil {
			t.Fatalf("%s: %v", k.Name(), err)
		}
		if strings.ContainsAny(m.Subject, "\r\n") || m.Subject == "" {
			t.Errorf("%s: subject %q is not one line", k.Name(), m.Subject)
		}
		if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>Company</b>") {
			t.Errorf("%s: HTML carries unescaped input:\n%s", k.Name(), m.HTML)
		}
		if !strings.Contains(m.HTML, "Hello Ann") || !strings.Contains(m.Text, "Hello Ann") ||
			!strings.Contains(m.Text, "https://app.test/unsubscribe?token=a&b") {
			t.Errorf("%s: bodies lack the greeting or the unsubscribe link:\n%s", k.Name(), m.Text)
		}
		e, err := r.Entry(d)
		if err != nil || e.Title != m.Subject || e.Body == "" {
			t.Errorf("%s: entry %+v (%v)", k.Name(), e, err)
		}
	}
}

func TestSignInEmailsCarryTheLinkEscapedAndNoUnsubscribe(t *testing.T) {
	t.Parallel()
	r := render.New()
	const link = "https://app.test/invitations/accept?token=opl_a%2Bb%3D"
	for k, subject := range map[domain.Kind]string{
		domain.KindInvitation:    `Contoso <b>MSP</b> invited you to Orgplane`,
		domain.KindPasswordReset: "Reset your Orgplane password",
	} {
		d := render.Data{Kind: k, RecipientName: "<i>Ann</i>", AccountName: "Contoso <b>MSP</b>", LinkURL: link,
			Expires: "31/12/2026 17:05 CST"}
		got, err := r.Subject(d)
		if err != nil || got != subject {
			t.Errorf("%s: subject %q (%v), want %q", k.Name(), got, err, subject)
		}
		m, err := r.Email(d)
		if err != nil {
			t.Fatalf("%s: %v", k.Name(), err)
		}
		if m.Subject != subject {
			t.Errorf("%s: email subject %q", k.Name(), m.Subject)
		}
		if strings.Contains(m.HTML, "<b>MSP</b>") || strings.Contains(m.HTML, "<i>Ann</i>") {
			t.Errorf("%s: HTML carries unescaped input:\n%s", k.Name(), m.HTML)
		}
		if !strings.Contains(m.HTML, `href="`+link+`"`) || !strings.Contains(m.Text, "\n"+link+"\n") {
			t.Errorf("%s: the bodies do not carry the link as it is:\n%s\n%s", k.Name(), m.Text, m.HTML)
		}
		for _, part := range []string{m.Text, m.HTML} {
			if !strings.Contains(part, "31/12/2026 17:05 CST") || strings.Contains(part, "unsubscribe") ||
				strings.Contains(part, "notification preferences") || strings.Contains(part, "listed this address") {
				t.Errorf("%s: the body lacks the expiry or speaks of preferences:\n%s", k.Name(), part)
			}
		}
	}
	// Without a company name the invitation still reads.
	got, err := r.Subject(render.Data{Kind: domain.KindInvitation})
	if err != nil || got != "Your team invited you to Orgplane" {
		t.Errorf("subject without a company: %q (%v)", got, err)
	}
}
