package app_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// Webhooks from ConnectWise and Autotask: a valid delivery updates the cached company within
// 2 s, the same delivery again is applied once, a forged one changes nothing.
func TestWebhookDeliveries(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"connectwise", "autotask"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			svc := w.service(true)
			integ := w.connect(svc, kind, domain.BudgetPolicy{})
			sim := w.sim(kind)
			seed(sim, 5, "Hook")
			op, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
			if err != nil {
				t.Fatal(err)
			}
			w.waitOperation(svc, op.ID, 30*time.Second, nil)

			// The tool's deliveries reach the service as the gateway hands them over.
			var last atomic.Value
			var applied, refused atomic.Int32
			recv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				last.Store([2]any{r.Header.Clone(), body})
				ok, err := svc.DeliverWebhook(r.Context(), integ.ID, r.Header, body)
				switch {
				case errors.Is(err, domain.ErrBadSignature):
					refused.Add(1)
					rw.WriteHeader(http.StatusUnauthorized)
				case err != nil:
					rw.WriteHeader(http.StatusServiceUnavailable)
				default:
					if ok {
						applied.Add(1)
					}
					rw.WriteHeader(http.StatusNoContent)
				}
			}))
			t.Cleanup(recv.Close)
			sim.SetWebhook(recv.URL, "whsec-dev-4b8d1f")

			target := sim.Store.All()[2]
			start := time.Now()
			sim.Store.Update(target.ID, false, func(c *simkitCompany) { c.Name = "Hook Renamed" })
			for {
				list := w.externals(svc, integ.ID, 0)
				found := false
				for _, e := range list {
					if e.ExternalID == itoa(target.ID) && e.Name == "Hook Renamed" {
						found = true
					}
				}
				if found {
					break
				}
				if time.Since(start) > 2*time.Second {
					t.Fatalf("the delivery did not update the cache within 2 s")
				}
				time.Sleep(20 * time.Millisecond)
			}
			sim.WaitWebhooks()
			if applied.Load() != 1 {
				t.Fatalf("applied %d deliveries", applied.Load())
			}
			// The same delivery again: recognized, applied once.
			pair := last.Load().([2]any)
			h, body := pair[0].(http.Header), pair[1].([]byte)
			ok, err := svc.DeliverWebhook(w.ctx(), integ.ID, h, body)
			if err != nil || ok {
				t.Fatalf("replay: applied=%v err=%v", ok, err)
			}
			// Forged: a changed body, a missing signature.
			forged := append([]byte(nil), body...)
			forged[len(forged)/2] ^= 1
			if _, err := svc.DeliverWebhook(w.ctx(), integ.ID, h, forged); !errors.Is(err, domain.ErrBadSignature) {
				t.Fatalf("forged body: %v", err)
			}
			if _, err := svc.DeliverWebhook(w.ctx(), integ.ID, http.Header{}, body); !errors.Is(err, domain.ErrBadSignature) {
				t.Fatalf("no signature: %v", err)
			}
			if _, err := svc.DeliverWebhook(w.ctx(), "00000000-0000-4000-8000-000000000000", h, body); !errors.Is(err, domain.ErrBadSignature) {
				t.Fatalf("unknown integration: %v", err)
			}
		})
	}
}
