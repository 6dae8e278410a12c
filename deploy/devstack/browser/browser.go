// Package browser drives a real Chromium (Debian's chromium package, headless) against the real
// Orgplane suite, started as `make run` starts it, for tests of the pages people use. Tests find
// things the way a person and a screen reader do: by a field's label, by a control's role and
// accessible name (Chromium's own accessibility tree), by visible text. Every step can be saved
// as a screenshot, and every page is checked with axe-core: a serious or critical violation
// fails the test.
//
// A test package using it calls testkit.Main from TestMain (the suite needs Postgres), starts a
// suite with StartSuite and opens pages with Suite.Open (or Open for any server).
package browser

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Size is a window size in CSS pixels.
type Size struct{ Width, Height int64 }

// The sizes the pages are tested at (issue 19: works at 1280 px and on a tablet).
var (
	Desktop = Size{1280, 900}
	Tablet  = Size{820, 1180}
)

// Timeout bounds every wait: generous, since the machine's two cores are shared by the suite,
// the browser and other tests. A wait ends as soon as its condition holds.
const Timeout = 60 * time.Second

// MissingChromium is the message a test fails with when Chromium cannot be found.
const MissingChromium = "install Debian's chromium package (apt-get install chromium) to run the browser tests"

// ScreenshotsEnv names the folder screenshots are written to (one subfolder per test); unset,
// they go to the test's artifact folder (kept by go test -artifacts).
const ScreenshotsEnv = "ORGPLANE_SCREENSHOTS"

// chromiumPath finds Debian's chromium: on PATH, else where the package installs it.
func chromiumPath() (string, error) {
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	const debian = "/usr/bin/chromium"
	if fi, err := os.Stat(debian); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return debian, nil
	}
	return "", errors.New(MissingChromium)
}

// Page is one browser tab in a Chromium of its own, at Desktop size, closed when the test ends.
type Page struct {
	t    testing.TB
	ctx  context.Context
	base *url.URL

	shots string
	steps int

	mu         sync.Mutex
	exceptions []string
	// checked holds the pages (host and path) axe has looked at; A11y is required on each
	// page the tab visited.
	checked     map[string]bool
	allowErrors bool
}

// lockedBuffer collects Chromium's output, written from the process's pipes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Open starts Chromium for t with one tab whose relative addresses resolve against baseURL.
// When t ends it saves a screenshot if t failed, fails t for any uncaught script error and for
// any page visited without A11y, and closes the browser.
func Open(t testing.TB, baseURL string) *Page {
	t.Helper()
	exe, err := chromiumPath()
	if err != nil {
		t.Fatal(err)
	}
	base, err := url.Parse(baseURL)
	if err != nil {
		t.Fatalf("base URL %q: %v", baseURL, err)
	}
	shots := screenshotDir(t)
	var output lockedBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.WindowSize(int(Desktop.Width), int(Desktop.Height)),
		chromedp.DisableGPU,
		chromedp.Flag("lang", "en-US"),
		// Scrollbars take no width, so a screenshot is the layout a person sees at that size.
		chromedp.Flag("hide-scrollbars", true),
		chromedp.CombinedOutput(&output),
	)
	// Chromium's sandbox needs user namespaces it cannot have as root (CI runs as root).
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	stop := func() {
		cancelTab()
		cancelAlloc()
	}

	// The browser starts on the first action, run without a deadline (a deadline would bind
	// the browser's life to it), so the wait is bounded here.
	started := make(chan error, 1)
	go func() {
		started <- chromedp.Do(ctx, chromedp.EmulateViewport(Desktop.Width, Desktop.Height))
	}()
	select {
	case err = <-started:
	case <-time.After(Timeout):
		err = fmt.Errorf("no answer within %v", Timeout)
	}
	if err != nil {
		stop()
		t.Fatalf("start Chromium (%s): %v\n%s", exe, err, output.String())
	}

	p := &Page{t: t, ctx: ctx, base: base, checked: map[string]bool{}, shots: shots}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.exceptions = append(p.exceptions, exceptionText(ev.ExceptionDetails))
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		defer stop()
		// A test that failed already gets a picture of where it stopped; what else is wrong
		// then is told, not added as failures.
		failed := t.Failed()
		if failed {
			p.shot("failed")
		} else {
			p.requireChecked()
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		switch {
		case len(p.exceptions) == 0:
		case p.allowErrors || failed:
			t.Logf("uncaught script errors in the page:\n  %s", strings.Join(p.exceptions, "\n  "))
		default:
			t.Errorf("uncaught script errors in the page:\n  %s", strings.Join(p.exceptions, "\n  "))
		}
	})
	return p
}

// Open opens a browser tab on the suite's gateway (see Open).
func (s *Suite) Open(t testing.TB) *Page {
	t.Helper()
	return Open(t, s.GatewayURL)
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "an exception without details"
	}
	text := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		text = d.Exception.Description
	}
	if d.URL != "" {
		text += fmt.Sprintf(" (%s:%d)", d.URL, d.LineNumber+1)
	}
	return text
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// screenshotDir is $ORGPLANE_SCREENSHOTS/<test name>, else the test's artifact folder.
func screenshotDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv(ScreenshotsEnv)
	if root == "" {
		return t.ArtifactDir()
	}
	// The folder holds this run's steps only, so numbers never mix with an earlier run's.
	dir := filepath.Join(root, unsafeName.ReplaceAllString(t.Name(), "_"))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("screenshot folder: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshot folder: %v", err)
	}
	return dir
}

// screenshotsKept tells whether screenshots outlive the test: written to $ORGPLANE_SCREENSHOTS,
// or to an artifact folder that go test -artifacts keeps.
func screenshotsKept() bool {
	if os.Getenv(ScreenshotsEnv) != "" {
		return true
	}
	f := flag.Lookup("test.artifacts")
	return f != nil && f.Value.String() == "true"
}

// Context is the tab's chromedp context, for what the helpers here do not cover; bound each
// action's time with context.WithTimeout.
func (p *Page) Context() context.Context { return p.ctx }

// AllowPageErrors accepts uncaught script errors in the page (third-party pages).
func (p *Page) AllowPageErrors() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allowErrors = true
}

// run runs the actions within Timeout, failing the test with what when they fail.
func (p *Page) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fail(what, err)
	}
}

// value runs an action that returns a value within Timeout, failing the test with what.
func value[T any](p *Page, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.fail(what, err)
	}
	return v
}

// fail stops the test with what went wrong and what the page shows now, which is usually
// the quickest way to see why.
func (p *Page) fail(what string, err error) {
	p.t.Helper()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("not within %v", Timeout)
	}
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	where, _ := chromedp.Run(ctx, chromedp.Location())
	shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if len(shown) > 1500 {
		shown = shown[:1500] + " ..."
	}
	p.t.Fatalf("%s: %v\nthe page at %s shows:\n%s", what, err, redact(where), shown)
}

// resolve turns a path into an address on the page's base.
func (p *Page) resolve(ref string) string {
	u, err := p.base.Parse(ref)
	if err != nil {
		p.t.Fatalf("address %q: %v", ref, err)
	}
	return u.String()
}

// Goto loads an address (absolute, or a path on the base) and waits for it to load.
func (p *Page) Goto(ref string) {
	p.t.Helper()
	p.run("open "+redact(p.resolve(ref)), chromedp.Navigate(p.resolve(ref)))
}

// Resize sets the window to size (Desktop, Tablet or any other).
func (p *Page) Resize(size Size) {
	p.t.Helper()
	p.run(fmt.Sprintf("resize to %dx%d", size.Width, size.Height), chromedp.EmulateViewport(size.Width, size.Height))
}

// URL is the tab's current address.
func (p *Page) URL() string {
	p.t.Helper()
	return value(p, "read the address", chromedp.Location())
}

// Title is the page's title.
func (p *Page) Title() string {
	p.t.Helper()
	return value(p, "read the title", chromedp.Title())
}

// Text is the text the page shows, as a person reads it (innerText of the body).
func (p *Page) Text() string {
	p.t.Helper()
	return value(p, "read the page's text", chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
}

// HTML is the page's DOM as it stands now, serialized; read from the tab, not fetched again.
func (p *Page) HTML() string {
	p.t.Helper()
	return value(p, "read the page's DOM", chromedp.Evaluate[string](`document.documentElement.outerHTML`))
}

// Press types keys into whatever has the focus, as a keyboard does: text, or the special keys of
// github.com/chromedp/chromedp/kb (kb.Enter, kb.Tab, kb.Escape, kb.ArrowDown).
func (p *Page) Press(keys string) {
	p.t.Helper()
	p.run(fmt.Sprintf("press %q", keys), chromedp.KeyEvent(keys))
}

// Focused is the role and accessible name of the element that has the keyboard focus, as a
// screen reader announces it (for checking keyboard navigation).
func (p *Page) Focused() (role, name string) {
	p.t.Helper()
	var r, n string
	p.run("read the focused element", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		obj, err := cdp.Call(ctx, t, runtime.Evaluate, runtime.EvaluateParams{Expression: `document.activeElement`, ObjectGroup: findGroup})
		if err != nil {
			return err
		}
		defer releaseFound(ctx, t)
		if obj.Result == nil || obj.Result.ObjectID == "" {
			return errors.New("nothing has the focus")
		}
		fetch := false
		tree, err := cdp.Call(ctx, t, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{ObjectID: obj.Result.ObjectID, FetchRelatives: &fetch})
		if err != nil {
			return err
		}
		if len(tree.Nodes) == 0 {
			return errors.New("the focused element is not in the accessibility tree")
		}
		r, n = axString(tree.Nodes[0].Role), axString(tree.Nodes[0].Name)
		return nil
	}))
	return r, n
}

// waitFor checks cond every 100 ms until it holds, failing the test with what after Timeout.
// Errors while checking (a page navigating away under the check) are retried.
func (p *Page) waitFor(what string, cond func(ctx context.Context) (bool, error)) {
	p.t.Helper()
	deadline := time.Now().Add(Timeout)
	var last error
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		ok, err := cond(ctx)
		cancel()
		if ok && err == nil {
			return
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last == nil {
				last = context.DeadlineExceeded
			}
			p.fail(what, last)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-p.ctx.Done():
			p.t.Fatalf("%s: the browser closed", what)
		}
	}
}

// WaitText waits until the page shows text (a part of its visible text).
func (p *Page) WaitText(text string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("wait for the text %q", text), func(ctx context.Context) (bool, error) {
		shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		return strings.Contains(shown, text), err
	})
}

// WaitNoText waits until the page no longer shows text.
func (p *Page) WaitNoText(text string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("wait for the text %q to go", text), func(ctx context.Context) (bool, error) {
		shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		return err == nil && !strings.Contains(shown, text), err
	})
}

// WaitPath waits until the tab's address has the path (query and fragment aside).
func (p *Page) WaitPath(path string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("wait for the address %s", path), func(ctx context.Context) (bool, error) {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			return false, err
		}
		u, err := url.Parse(loc)
		return err == nil && u.Path == path, err
	})
}

// Shot saves a screenshot of the whole page as the test's next step, NN-step.png, and returns
// its path.
func (p *Page) Shot(step string) string {
	p.t.Helper()
	path, err := p.save(step)
	if err != nil {
		p.fail("screenshot "+step, err)
	}
	return path
}

// shot is Shot for the end of a failed test: a failure to save is only logged.
func (p *Page) shot(step string) {
	path, err := p.save(step)
	switch {
	case err != nil:
		p.t.Logf("screenshot %s: %v", step, err)
	case screenshotsKept():
		p.t.Logf("screenshot: %s", path)
	default:
		p.t.Logf("screenshot: %s (removed with the test; go test -artifacts or $%s keeps it)", path, ScreenshotsEnv)
	}
}

func (p *Page) save(step string) (string, error) {
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return "", err
	}
	p.steps++
	path := filepath.Join(p.shots, fmt.Sprintf("%02d-%s.png", p.steps, unsafeName.ReplaceAllString(step, "-")))
	return path, os.WriteFile(path, png, 0o644)
}

// Step records a step of the test: a screenshot named step, then the accessibility check.
func (p *Page) Step(step string) {
	p.t.Helper()
	p.Shot(step)
	p.A11y()
}

// redact is an address for messages: without its query and fragment, where links carry their
// tokens (an unsubscribe or invitation link), which no log line may hold.
func redact(address string) string {
	u, err := url.Parse(address)
	if err != nil {
		return "(an address that does not parse)"
	}
	hidden := u.RawQuery != "" || u.Fragment != ""
	u.RawQuery, u.Fragment, u.User = "", "", nil
	if hidden {
		return u.String() + "?…"
	}
	return u.String()
}

// pageKey names a page for the "every page is checked" rule: its host and path.
func pageKey(address string) string {
	u, err := url.Parse(address)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Host + u.Path
}

// requireChecked fails the test for each page the tab's history holds that axe never saw.
func (p *Page) requireChecked() {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	history, err := chromedp.Run(ctx, chromedp.NavigationEntries())
	if err != nil {
		p.t.Errorf("read the tab's history: %v", err)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var missed []string
	for _, e := range history.Entries {
		if k := pageKey(e.URL); k != "" && !p.checked[k] && !slices.Contains(missed, redact(e.URL)) {
			missed = append(missed, redact(e.URL))
		}
	}
	if len(missed) > 0 {
		p.t.Errorf("pages visited without an accessibility check (call A11y on each):\n  %s", strings.Join(missed, "\n  "))
	}
}

// Locator finds elements of the page as a person would, and waits for them: every action
// waits up to Timeout for exactly one match (First relaxes that).
type Locator struct {
	p      *Page
	desc   string
	find   lookup
	parent *Locator
	first  bool
}

// lookup finds node ids under root.
type lookup func(ctx context.Context, t *chromedp.Target, root cdp.NodeID) ([]cdp.NodeID, error)

// formRoles are the roles of controls a label names.
var formRoles = map[string]bool{
	"textbox": true, "searchbox": true, "combobox": true, "listbox": true, "checkbox": true, "radio": true,
	"switch": true, "spinbutton": true, "slider": true, "radiogroup": true,
}

// ByLabel is the form control whose accessible name is label: named by a <label>, aria-label or
// aria-labelledby, exactly as a screen reader announces it.
func (p *Page) ByLabel(label string) Locator {
	return Locator{p: p, desc: fmt.Sprintf("the field labelled %q", label), find: byAccessibleName(label, "", formRoles)}
}

// ByRole is the element with the ARIA role (button, link, heading, textbox, row, dialog, ...)
// and accessible name; an empty name matches any.
func (p *Page) ByRole(role, name string) Locator {
	desc := fmt.Sprintf("the %s %q", role, name)
	if name == "" {
		desc = "the " + role
	}
	return Locator{p: p, desc: desc, find: byAccessibleName(name, role, nil)}
}

// ByText is the innermost visible element whose text is exactly text (white space collapsed).
func (p *Page) ByText(text string) Locator {
	return Locator{p: p, desc: fmt.Sprintf("the text %q", text), find: byText(text)}
}

// within scopes a locator to the first element l finds.
func (l Locator) within(child Locator) Locator {
	parent := l
	child.parent = &parent
	child.desc = child.desc + " in " + l.desc
	return child
}

// ByLabel is ByLabel inside l's element (a dialog, a row).
func (l Locator) ByLabel(label string) Locator { return l.within(l.p.ByLabel(label)) }

// ByRole is ByRole inside l's element.
func (l Locator) ByRole(role, name string) Locator { return l.within(l.p.ByRole(role, name)) }

// ByText is ByText inside l's element.
func (l Locator) ByText(text string) Locator { return l.within(l.p.ByText(text)) }

// First relaxes the one-match rule: actions use the first match in document order.
func (l Locator) First() Locator {
	l.first = true
	return l
}

// ids resolves the locator from the document's root node.
func (l Locator) ids(ctx context.Context, t *chromedp.Target, root cdp.NodeID) ([]cdp.NodeID, error) {
	if l.parent != nil {
		scope, err := l.parent.ids(ctx, t, root)
		if err != nil || len(scope) == 0 {
			return nil, err
		}
		root = scope[0]
	}
	return l.find(ctx, t, root)
}

// search is one use of a locator: the chromedp selector and options that find its elements,
// and the last reason the lookup gave for not finding them yet (for the failure message).
type search struct {
	sel  chromedp.JSPath
	opts []chromedp.QueryOption
	mu   sync.Mutex
	last error
}

func (s *search) note(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = err
}

// why adds the lookup's last complaint to err.
func (s *search) why(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last != nil {
		return fmt.Errorf("%w (%w)", err, s.last)
	}
	return err
}

// search prepares a lookup. Strict lookups find nothing while more than one element matches
// (unless First), so that an action never picks one of several by accident; chromedp retries
// until exactly one remains or the time is up.
func (l Locator) search(strict bool, extra ...chromedp.QueryOption) *search {
	s := &search{sel: chromedp.JSPath(l.desc)} // only a label: ByFunc finds the elements
	by := chromedp.ByFunc(func(ctx context.Context, t *chromedp.Target, n *chromedp.Node) ([]cdp.NodeID, error) {
		ids, err := l.ids(ctx, t, n.NodeID)
		if err != nil {
			s.note(err)
			return nil, err
		}
		if strict && len(ids) > 1 {
			if !l.first {
				err := fmt.Errorf("%d elements match; scope the search (a dialog, a row) or use First", len(ids))
				s.note(err)
				return nil, err
			}
			ids = ids[:1]
		}
		return ids, nil
	})
	s.opts = append([]chromedp.QueryOption{by, chromedp.RetryInterval(100 * time.Millisecond)}, extra...)
	return s
}

// act runs the action make builds from a strict search, failing the test with what.
func (l Locator) act(what string, build func(*search) []chromedp.Action[chromedp.Void], extra ...chromedp.QueryOption) {
	l.p.t.Helper()
	s := l.search(true, extra...)
	ctx, cancel := context.WithTimeout(l.p.ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, build(s)...); err != nil {
		l.p.fail(what+" "+l.desc, s.why(err))
	}
}

// read runs an action that returns a value from a search, failing the test with what.
func read[T any](l Locator, what string, strict bool, build func(*search) chromedp.Action[T], extra ...chromedp.QueryOption) T {
	l.p.t.Helper()
	s := l.search(strict, extra...)
	ctx, cancel := context.WithTimeout(l.p.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, build(s))
	if err != nil {
		l.p.fail(what+" "+l.desc, s.why(err))
	}
	return v
}

// one is the action a for a search, in a list.
func one(a chromedp.Action[chromedp.Void]) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{a}
}

// Count is how many elements match now, without waiting.
func (l Locator) Count() int {
	l.p.t.Helper()
	return read(l, "count", false, func(s *search) chromedp.Action[int] {
		return chromedp.QueryAfter(s.sel, func(_ context.Context, _ *chromedp.Target, nodes []*chromedp.Node) (int, error) {
			return len(nodes), nil
		}, s.opts...)
	}, chromedp.AtLeast(0))
}

// WaitVisible waits until the element is shown.
func (l Locator) WaitVisible() {
	l.p.t.Helper()
	l.act("wait for", func(s *search) []chromedp.Action[chromedp.Void] {
		return one(chromedp.Query(s.sel, s.opts...))
	}, chromedp.NodeVisible)
}

// WaitGone waits until no element matches (removed, or hidden from the accessibility tree).
func (l Locator) WaitGone() {
	l.p.t.Helper()
	s := l.search(false)
	ctx, cancel := context.WithTimeout(l.p.ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitNotPresent(s.sel, s.opts...)); err != nil {
		l.p.fail("wait for "+l.desc+" to go", err)
	}
}

// Click clicks the element with the mouse, scrolled into view.
func (l Locator) Click() {
	l.p.t.Helper()
	l.act("click", func(s *search) []chromedp.Action[chromedp.Void] {
		return one(chromedp.Click(s.sel, s.opts...))
	})
}

// Focus gives the element the keyboard focus.
func (l Locator) Focus() {
	l.p.t.Helper()
	l.act("focus", func(s *search) []chromedp.Action[chromedp.Void] {
		return one(chromedp.Focus(s.sel, s.opts...))
	}, chromedp.NodeVisible)
}

// Fill replaces the field's text with text, typed key by key as a person does (so the page's
// own input handling runs), and checks that the field then holds it.
func (l Locator) Fill(text string) {
	l.p.t.Helper()
	l.act("fill", func(s *search) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{
			chromedp.Focus(s.sel, s.opts...),
			chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
			chromedp.KeyEvent(kb.Backspace),
			chromedp.KeyEvent(text),
		}
	}, chromedp.NodeVisible)
	if got := l.Value(); got != text {
		l.p.t.Fatalf("%s holds %q after typing %q", l.desc, got, text)
	}
}

// Type types text (or kb keys) into the element after what it holds.
func (l Locator) Type(text string) {
	l.p.t.Helper()
	l.act("type into", func(s *search) []chromedp.Action[chromedp.Void] {
		return one(chromedp.SendKeys(s.sel, text, s.opts...))
	})
}

// Value is the value of the field.
func (l Locator) Value() string {
	l.p.t.Helper()
	return read(l, "read", true, func(s *search) chromedp.Action[string] { return chromedp.Value(s.sel, s.opts...) })
}

// Text is the element's visible text.
func (l Locator) Text() string {
	l.p.t.Helper()
	return read(l, "read", true, func(s *search) chromedp.Action[string] { return chromedp.Text(s.sel, s.opts...) })
}

// Attribute is the element's attribute name ("" when absent).
func (l Locator) Attribute(name string) string {
	l.p.t.Helper()
	return read(l, "read", true, func(s *search) chromedp.Action[chromedp.AttributeResult] {
		return chromedp.AttributeValue(s.sel, name, s.opts...)
	}).Value
}

// Description is the element's accessible description, as a screen reader reads it after the
// name: a field's hint and its error message, when they are tied to it (aria-describedby).
func (l Locator) Description() string {
	l.p.t.Helper()
	return read(l, "read the description of", true, func(s *search) chromedp.Action[string] {
		return chromedp.QueryAfter(s.sel, describeNode, s.opts...)
	})
}

// WaitDescription waits until the element's accessible description holds text (letter case
// aside): an error shown at the field it is about.
func (l Locator) WaitDescription(text string) {
	l.p.t.Helper()
	want := strings.ToLower(text)
	l.p.waitFor(fmt.Sprintf("wait for %s to be described as %q", l.desc, text), func(ctx context.Context) (bool, error) {
		s := l.search(true)
		d, err := chromedp.Run(ctx, chromedp.QueryAfter(s.sel, describeNode, s.opts...))
		if err != nil {
			return false, s.why(err)
		}
		if !strings.Contains(strings.ToLower(d), want) {
			return false, fmt.Errorf("described as %q", d)
		}
		return true, nil
	})
}

// describeNode reads the accessible description of the first node.
func describeNode(ctx context.Context, t *chromedp.Target, nodes []*chromedp.Node) (string, error) {
	fetch := false
	tree, err := cdp.Call(ctx, t, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{NodeID: nodes[0].NodeID, FetchRelatives: &fetch})
	if err != nil {
		return "", err
	}
	if len(tree.Nodes) == 0 {
		return "", errors.New("not in the accessibility tree")
	}
	return axString(tree.Nodes[0].Description), nil
}

// byAccessibleName asks Chromium's accessibility tree for the nodes with name and role (either
// may be empty), keeping those whose role is in roles when roles is set.
func byAccessibleName(name, role string, roles map[string]bool) lookup {
	return func(ctx context.Context, t *chromedp.Target, root cdp.NodeID) ([]cdp.NodeID, error) {
		res, err := cdp.Call(ctx, t, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{NodeID: root, AccessibleName: name, Role: role})
		if err != nil {
			return nil, err
		}
		var backend []cdp.BackendNodeID
		for _, n := range res.Nodes {
			if n.Ignored || n.BackendDOMNodeID == 0 {
				continue
			}
			r := axString(n.Role)
			// Text runs carry their text as a name too; they are not what a person points at.
			if r == "StaticText" || r == "InlineTextBox" || roles != nil && !roles[r] {
				continue
			}
			backend = append(backend, n.BackendDOMNodeID)
		}
		if len(backend) == 0 {
			return []cdp.NodeID{}, nil
		}
		pushed, err := cdp.Call(ctx, t, dom.PushNodesByBackendIDsToFrontend, dom.PushNodesByBackendIDsToFrontendParams{BackendNodeIDs: backend})
		if err != nil {
			return nil, err
		}
		ids := make([]cdp.NodeID, 0, len(pushed.NodeIDs))
		for _, id := range pushed.NodeIDs {
			if id != 0 {
				ids = append(ids, id)
			}
		}
		return ids, nil
	}
}

// axString is an accessibility value's text ("" when absent).
func axString(v *accessibility.Value) string {
	if v == nil || len(v.Value) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v.Value, &s) != nil {
		return ""
	}
	return s
}

//go:embed js/find_text.js
var findTextJS string

// findGroup names the remote objects a lookup makes, released together after it.
const findGroup = "orgplane-browser-find"

func releaseFound(ctx context.Context, t *chromedp.Target) {
	_, _ = cdp.Call(ctx, t, runtime.ReleaseObjectGroup, runtime.ReleaseObjectGroupParams{ObjectGroup: findGroup})
}

// byText runs js/find_text.js on the root element and turns the elements it gives into node ids.
func byText(text string) lookup {
	arg, _ := json.Marshal(text)
	return func(ctx context.Context, t *chromedp.Target, root cdp.NodeID) ([]cdp.NodeID, error) {
		defer releaseFound(ctx, t)
		obj, err := cdp.Call(ctx, t, dom.ResolveNode, dom.ResolveNodeParams{NodeID: root, ObjectGroup: findGroup})
		if err != nil {
			return nil, err
		}
		res, err := cdp.Call(ctx, t, runtime.CallFunctionOn, runtime.CallFunctionOnParams{
			FunctionDeclaration: findTextJS, ObjectID: obj.Object.ObjectID, ObjectGroup: findGroup,
			Arguments: []*runtime.CallArgument{{Value: arg}},
		})
		if err != nil {
			return nil, err
		}
		if res.ExceptionDetails != nil {
			return nil, errors.New(exceptionText(res.ExceptionDetails))
		}
		own := true
		props, err := cdp.Call(ctx, t, runtime.GetProperties, runtime.GetPropertiesParams{ObjectID: res.Result.ObjectID, OwnProperties: &own})
		if err != nil {
			return nil, err
		}
		ids := []cdp.NodeID{}
		for _, prop := range props.Result {
			if prop.Value == nil || prop.Value.Subtype != runtime.RemoteObjectSubtypeNode {
				continue
			}
			n, err := cdp.Call(ctx, t, dom.RequestNode, dom.RequestNodeParams{ObjectID: prop.Value.ObjectID})
			if err != nil {
				return nil, err
			}
			ids = append(ids, n.NodeID)
		}
		return ids, nil
	}
}
