package browser_test

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp/kb"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/deploy/devstack/browser"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// pages is a small site for testing the harness itself, apart from the suite: a well-made page
// whose parts are found by label, role and text; a page that breaks accessibility rules; a page
// whose script throws.
func pages() http.Handler {
	mux := http.NewServeMux()
	html := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Harness</title></head><body>` + body + `</body></html>`))
		}
	}
	mux.HandleFunc("GET /{$}", html(`<main><h1>Sign in</h1>
<form onsubmit="event.preventDefault(); document.getElementById('said').textContent = 'Hello, ' + document.getElementById('e').value">
<label for="e">Email</label> <input id="e" name="email" type="email" aria-describedby="hint"> <span id="hint">Your work address</span>
<input aria-label="Search" type="search">
<button type="submit">Sign <b>in</b></button></form>
<p id="said" role="status"></p>
<section aria-label="Northwind"><h2>Northwind</h2><button onclick="this.parentElement.remove()">Delete</button></section>
<section aria-label="Contoso"><h2>Contoso</h2><button onclick="this.parentElement.remove()">Delete</button></section>
<p>Later: <span id="later"></span></p>
<script>setTimeout(() => { document.getElementById('later').innerHTML = '<a href="/bad">Next page</a>' }, 1500)</script>
</main>`))
	mux.HandleFunc("GET /bad", html(`<main><h1>Broken</h1><input type="text"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<p style="color:#eee;background:#fff">Faint text</p>
<div role="img" aria-labelledby="gone" id="outside"></div></main>
<div data-live-announcer="true"><div role="log" aria-live="assertive"><div role="img" aria-labelledby="gone"></div></div></div>`))
	mux.HandleFunc("GET /throws", html(`<main><h1>Throws</h1></main><script>throw new Error("boom from the page")</script>`))
	return mux
}

func TestHarnessFindsThingsAsAPersonDoes(t *testing.T) {
	srv := httptest.NewServer(pages())
	defer srv.Close()
	p := browser.Open(t, srv.URL)
	p.Goto("/")
	p.Step("harness-form")

	// By label (a <label for>) and by aria-label, typed key by key; the page's own handler runs.
	email := p.ByLabel("Email")
	email.Fill("ada@contoso.example")
	email.Fill("grace@contoso.example") // Fill replaces what the field held
	if d := email.Description(); d != "Your work address" {
		t.Errorf("the email field is described as %q", d)
	}
	email.WaitDescription("work address")
	p.ByLabel("Search").Fill("north")
	// By role and accessible name, where the name is split over elements.
	p.ByRole("button", "Sign in").Click()
	p.WaitText("Hello, grace@contoso.example")
	if got := p.ByRole("status", "").Text(); got != "Hello, grace@contoso.example" {
		t.Errorf("the status says %q", got)
	}

	// Keyboard: Tab moves from the email field to the search field.
	email.Focus()
	p.Press(kb.Tab)
	if role, name := p.Focused(); role != "searchbox" || name != "Search" {
		t.Errorf("after Tab the focus is on %s %q, want the searchbox Search", role, name)
	}

	// Two buttons share a name: counted, and acted on only within their section.
	if n := p.ByRole("button", "Delete").Count(); n != 2 {
		t.Errorf("%d Delete buttons, want 2", n)
	}
	p.ByRole("region", "Contoso").ByRole("button", "Delete").Click()
	p.ByRole("region", "Contoso").WaitGone()
	if n := p.ByRole("region", "Northwind").Count(); n != 1 {
		t.Errorf("deleting Contoso took Northwind too (%d left)", n)
	}
	if n := p.ByLabel("Nonexistent").Count(); n != 0 {
		t.Errorf("a label nobody wrote matches %d elements", n)
	}

	// Waiting: the link appears a moment after the page loads; found by its text.
	p.ByText("Next page").Click()
	p.WaitPath("/bad")

	// axe-core runs and names what is wrong: an unlabelled field, an image without a text
	// alternative, faint text.
	vs := p.A11yReport("the harness's deliberately broken page")
	var rules []string
	for _, v := range vs {
		rules = append(rules, v.Rule)
		if v.Rule == "role-img-alt" && len(v.Nodes) != 1 {
			t.Errorf("role-img-alt names %d elements, want only the one outside React Aria's live announcer: %s", len(v.Nodes), v)
		}
		if v.Rule == "label" {
			s := v.String()
			if !v.Serious() || !strings.Contains(s, "input") || !strings.Contains(s, "https://dequeuniversity.com/rules/axe/") {
				t.Errorf("the label violation reads %q", s)
			}
		}
	}
	for _, want := range []string{"label", "image-alt", "color-contrast", "role-img-alt"} {
		if !slices.Contains(rules, want) {
			t.Errorf("axe found %v on the broken page, want %s among them", rules, want)
		}
	}

	// Screenshots are PNGs of the window's width, at Desktop and at Tablet size.
	for _, c := range []struct {
		size browser.Size
		step string
	}{{browser.Desktop, "harness-desktop"}, {browser.Tablet, "harness-tablet"}} {
		p.Resize(c.size)
		b, err := os.ReadFile(p.Shot(c.step))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil || int64(cfg.Width) != c.size.Width {
			t.Errorf("%s screenshot: %dx%d (%v), want %d wide", c.step, cfg.Width, cfg.Height, err, c.size.Width)
		}
	}
}

// recorder stands in for a test, to see what the harness reports when the test ends.
type recorder struct {
	testing.TB
	errors   []string
	cleanups []func()
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, strings.TrimSpace(fmt.Sprintf(format, args...)))
}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Failed() bool     { return len(r.errors) > 0 }

func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestHarnessFailsPagesNotCheckedAndScriptErrors(t *testing.T) {
	srv := httptest.NewServer(pages())
	defer srv.Close()
	rec := &recorder{TB: t}
	p := browser.Open(rec, srv.URL)
	p.Goto("/")
	p.A11y()
	p.Goto("/throws")
	p.WaitText("Throws")
	rec.end()
	got := strings.Join(rec.errors, "\n")
	if !strings.Contains(got, "boom from the page") {
		t.Errorf("an uncaught error in the page was not reported: %q", got)
	}
	if !strings.Contains(got, "pages visited without an accessibility check") || !strings.Contains(got, srv.URL+"/throws") ||
		strings.Contains(got, srv.URL+"/\n") {
		t.Errorf("the unchecked page was not reported (or the checked one was): %q", got)
	}
}
