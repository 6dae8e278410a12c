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
