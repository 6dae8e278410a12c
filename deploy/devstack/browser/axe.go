package browser

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/chromedp/chromedp"
)

// AxeEnv names a path to axe.min.js that overrides where it is looked for.
const AxeEnv = "ORGPLANE_AXE_JS"

// AxeTags are the rule sets every page is checked against.
var AxeTags = []string{"wcag2a", "wcag2aa", "best-practice"}

// axeExclude are the parts of a page axe leaves out. React Aria's live announcer
// ([data-live-announcer]) is a visually hidden log whose entries a screen reader reads once, as
// they are added, and which it removes seven seconds later. An entry names what it announces
// by aria-labelledby, so once a page moves on (a pending "Sign in" button announced, then gone
// with its page) the entry points at nothing until it is removed: axe then reports an unnamed
// image (role-img-alt), which nobody ever hears.
var axeExclude = []string{"[data-live-announcer]"}

// Violation is one axe rule a page breaks, with the elements that break it.
type Violation struct {
	Rule    string `json:"id"`
	Impact  string `json:"impact"` // minor, moderate, serious or critical
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		// Target is the CSS selector path of the element (nested for shadow DOM and frames).
		Target         json.RawMessage `json:"target"`
		FailureSummary string          `json:"failureSummary"`
	} `json:"nodes"`
}

// Serious tells whether the violation fails a test: serious or critical impact.
func (v Violation) Serious() bool { return v.Impact == "serious" || v.Impact == "critical" }

// String is the rule, its impact, what it asks, where it is broken and the page explaining it.
func (v Violation) String() string {
	var targets []string
	for i, n := range v.Nodes {
		if i == maxTargets {
			targets = append(targets, fmt.Sprintf("and %d more", len(v.Nodes)-maxTargets))
			break
		}
		targets = append(targets, selectorPath(n.Target))
	}
	return fmt.Sprintf("%s (%s): %s\n    at %s\n    see %s", v.Rule, v.Impact, v.Help, strings.Join(targets, ", "), v.HelpURL)
}

// maxTargets bounds the elements a message names for one rule: enough to find the pattern.
const maxTargets = 8

// selectorPath reads axe's target: a list of CSS selectors, one per frame or shadow root on the
// way to the element (each itself a list inside a shadow root).
func selectorPath(raw json.RawMessage) string {
	var steps []any
	if json.Unmarshal(raw, &steps) != nil {
		return string(raw)
	}
	parts := make([]string, 0, len(steps))
	for _, s := range steps {
		switch s := s.(type) {
		case string:
			parts = append(parts, s)
		case []any:
			inner := make([]string, 0, len(s))
			for _, x := range s {
				inner = append(inner, fmt.Sprint(x))
			}
			parts = append(parts, strings.Join(inner, " >>> "))
		default:
			parts = append(parts, fmt.Sprint(s))
		}
	}
	return strings.Join(parts, " | ")
}

// axeSource is axe.min.js, read once per test binary.
var axeSource = sync.OnceValues(func() (string, error) {
	path, err := axePath()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	return string(b), err
})

// axePath finds axe.min.js: $ORGPLANE_AXE_JS, else the web UI's node_modules, where axe-core
// is a pinned devDependency (services/gateway/ui/package.json; `make browser-deps` runs npm ci).
func axePath() (string, error) {
	if p := os.Getenv(AxeEnv); p != "" {
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, "services", "gateway", "ui", "node_modules", "axe-core", "axe.min.js")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("axe-core is missing (%s): run `make browser-deps` (npm ci in services/gateway/ui) or set %s", path, AxeEnv)
	}
	return path, nil
}

// repoRoot is the folder holding go.work, above the working directory (a test's package).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory: run the tests inside the repository")
		}
		dir = parent
	}
}

//go:embed js/axe_run.js
var axeRunJS string

// Axe runs axe-core on the page as it stands and returns every violation of AxeTags. It
// injects axe through the DevTools protocol, so the page's own Content-Security-Policy (which
// admits no script on the server-rendered pages) does not stand in the way.
func (p *Page) Axe() []Violation {
	p.t.Helper()
	src, err := axeSource()
	if err != nil {
		p.t.Fatal(err)
	}
	tags, _ := json.Marshal(AxeTags)
	exclude, _ := json.Marshal(axeExclude)
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err != nil {
		p.fail("check for axe-core", err)
	}
	if !loaded {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](src)); err != nil {
			p.fail("load axe-core into the page", err)
		}
	}
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]Violation]("("+axeRunJS+")("+string(tags)+","+string(exclude)+")", chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("run axe-core", err)
	}
	return vs
}

// A11y checks the page as it stands with axe-core: every serious or critical violation fails
// the test (listing rule, impact, elements and help page); lesser ones are logged. Call it on
// every page a test visits, and again after a page changes a lot (a dialog opens).
func (p *Page) A11y() {
	p.t.Helper()
	at := p.URL()
	shown := redact(at)
	var serious, other []string
	for _, v := range p.Axe() {
		if v.Serious() {
			serious = append(serious, v.String())
		} else {
			other = append(other, v.String())
		}
	}
	p.markChecked(at)
	if len(other) > 0 {
		p.t.Logf("accessibility, minor or moderate, at %s:\n  %s", shown, strings.Join(other, "\n  "))
	}
	if len(serious) > 0 {
		p.t.Errorf("accessibility: %d serious or critical violations at %s:\n  %s", len(serious), shown, strings.Join(serious, "\n  "))
	}
}

// A11yReport runs axe-core on a page Orgplane does not author (a third-party page it serves)
// and logs what it finds without failing; reason says why the page is exempt.
func (p *Page) A11yReport(reason string) []Violation {
	p.t.Helper()
	at := p.URL()
	vs := p.Axe()
	p.markChecked(at)
	var lines []string
	for _, v := range vs {
		lines = append(lines, v.String())
	}
	if len(lines) > 0 {
		p.t.Logf("accessibility at %s, reported only (%s):\n  %s", redact(at), reason, strings.Join(lines, "\n  "))
	}
	return vs
}

func (p *Page) markChecked(address string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checked[pageKey(address)] = true
}
