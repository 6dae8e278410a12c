package stack_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// plainWorld is a suite with the world's helpers and no event tap: these tests need no NATS.
func plainWorld(t *testing.T) *world { return &world{suite: startSuite(t)} }

// Every route that answers with raw bytes (google.api.HttpBody, the logos) serves them inert: the
// browser may not sniff them into another type, and a policy forbids them to run or load
// anything even when opened as a document. Routes are taken from the published API document.
func TestImagesAreServedInertOnEveryImageRoute(t *testing.T) {
	w := plainWorld(t)
	a := w.newMSP("Contoso MSP")
	org := w.createOrg(a, a.adminKey, `{"name":"Northwind Traders"}`)["id"].(string)
	b, err := os.ReadFile("../../../services/gateway/internal/openapi/orgplane.swagger.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Schema struct {
					Ref string `json:"$ref"`
				} `json:"schema"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{accountId}", a.id, "{organizationId}", org)
	image := `{"data":"` + base64.StdEncoding.EncodeToString(pngOf(120, 40)) + `"}`
	routes := 0
	for path, ops := range doc.Paths {
		if ops["get"].Responses["200"].Schema.Ref != "#/definitions/apiHttpBody" {
			continue
		}
		routes++
		concrete := fill.Replace(path)
		if strings.Contains(concrete, "{") {
			t.Fatalf("%s: a parameter this test cannot fill", path)
		}
		if _, ok := ops["put"]; !ok {
			t.Fatalf("%s: no PUT to upload an image with", path)
		}
		w.must(200, "PUT", concrete, a.adminKey, image)
		r := w.do("GET", concrete, a.adminKey, "")
		csp := r.header.Get("Content-Security-Policy")
		if r.code != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "image/") ||
			r.header.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "sandbox") {
			t.Errorf("GET %s: %d %v", path, r.code, r.header)
		}
	}
	if routes < 2 {
		t.Fatalf("only %d image routes in the document", routes)
	}
}

// A burst of 500 wrong keys from one client gets a small allowance of 401s and then 429 with
// Retry-After, while a valid key used from the same address during the burst is never refused.
func TestABurstOfBadKeysIsThrottled(t *testing.T) {
	w := plainWorld(t)
	a := w.newMSP("Contoso MSP")
	list := "/v1/accounts/" + a.id + "/organizations"
	// The valid key is in use before the burst, as a busy integration's would be.
	w.must(200, "GET", list, a.adminKey, "")

	// Every eleventh request in the burst is the valid key's.
	var refused, throttled, other, noRetryAfter atomic.Int64
	var validCodes sync.Map
	var wg sync.WaitGroup
	keys := make(chan string)
	start := time.Now()
	for range 20 {
		wg.Go(func() {
			for k := range keys {
				r := w.doQuiet("GET", list, k, "")
				if k == a.adminKey {
					n, _ := validCodes.LoadOrStore(r.code, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
					continue
				}
				switch r.code {
				case http.StatusUnauthorized:
					refused.Add(1)
				case http.StatusTooManyRequests:
					throttled.Add(1)
					if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
						noRetryAfter.Add(1)
					}
				default:
					other.Add(1)
				}
			}
		})
	}
	for i := range 500 {
		if i%10 == 0 {
			keys <- a.adminKey
		}
		var b [32]byte
		_, _ = rand.Read(b[:])
		keys <- "opk_" + base64.RawURLEncoding.EncodeToString(b[:])
	}
	close(keys)
	wg.Wait()
	elapsed := time.Since(start)

	// 20 at once, one more per second of the burst.
	allowance := int64(20 + elapsed.Seconds() + 1)
	t.Logf("500 bad keys in %v: %d refused (401), %d throttled (429), %d other", elapsed, refused.Load(), throttled.Load(), other.Load())
	if refused.Load() < 1 || refused.Load() > allowance || throttled.Load() != 500-refused.Load() || other.Load() != 0 {
		t.Errorf("want at most %d refusals and 429 for the rest", allowance)
	}
	if noRetryAfter.Load() != 0 {
		t.Errorf("%d throttled answers without a usable Retry-After", noRetryAfter.Load())
	}
	if n, ok := validCodes.Load(http.StatusOK); !ok || n.(*atomic.Int64).Load() != 50 {
		t.Errorf("the valid key was not answered 50 times during the burst")
	}
	validCodes.Range(func(code, n any) bool {
		if code.(int) != http.StatusOK {
			t.Errorf("the valid key got %d %d times during the burst", code, n.(*atomic.Int64).Load())
		}
		return true
	})
	w.must(200, "GET", list, a.adminKey, "")
}

// The suite's default configuration answers no browser origin: CORS is opt-in.
func TestNoBrowserOriginIsAllowedByDefault(t *testing.T) {
	w := plainWorld(t)
	a := w.newMSP("Contoso MSP")
	for _, origin := range []string{"https://evil.example.net", "http://localhost:3000", "null"} {
		r := w.do("GET", "/v1/accounts/"+a.id+"/organizations", a.adminKey, "", "Origin", origin)
		if r.code != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET from %s: %d, Access-Control-Allow-Origin %q", origin, r.code, r.header.Get("Access-Control-Allow-Origin"))
		}
	}
	if !regexp.MustCompile(`nosniff`).MatchString(w.do("GET", "/openapi.json", "", "").header.Get("X-Content-Type-Options")) {
		t.Error("the API document may be sniffed")
	}
}
