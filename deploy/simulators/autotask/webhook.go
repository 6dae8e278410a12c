package autotask

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

// SignatureHeader carries a delivery's signature: "sha1=" and the base64 HMAC-SHA1 of the body
// under the webhook's SecretKey.
const SignatureHeader = "X-Hook-Signature"

// Sign returns the X-Hook-Signature value for body under secret.
func Sign(body []byte, secret string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return "sha1=" + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// remember keeps each company's last isActive, so the next change can be told apart as a
// deactivation.
func (s *Server) remember(action string, c simkit.Company) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if action == "deleted" {
		delete(s.active, c.ID)
		return
	}
	s.active[c.ID] = c.Active
}

// buildWebhook renders Autotask's company webhook payload for a store change.
func (s *Server) buildWebhook(action string, c simkit.Company, secret string) (http.Header, []byte) {
	s.mu.Lock()
	was, known := s.active[c.ID]
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	var verb string
	fields := map[string]any{"id": c.ID}
	switch action {
	case "added":
		verb = "Create"
	case "deleted":
		verb = "Delete"
	default:
		verb = "Update"
		if (was || !known) && !c.Active {
			verb = "Deactivate"
		}
	}
	if verb != "Delete" {
		it := item(c)
		for _, k := range []string{"companyName", "companyType", "isActive", "parentCompanyID", "lastTrackedModifiedDateTime"} {
			fields[k] = it[k]
		}
	}
	body, _ := json.Marshal(map[string]any{
		"Action":         verb,
		"Guid":           s.hookGUID,
		"EntityType":     "Company",
		"Id":             c.ID,
		"Fields":         fields,
		"EventTime":      time.Now().UTC().Format(TimeFormat),
		"SequenceNumber": seq,
		"PersonID":       defaultOwnerID,
	})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(SignatureHeader, Sign(body, secret))
	return h, body
}
