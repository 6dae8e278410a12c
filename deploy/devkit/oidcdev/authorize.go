package oidcdev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/html"
)

// Authorize drives the provider's login page like a browser (own cookie jar, follows its own
// redirects, submits the email/password form) starting from an authorization URL the relying
// party built, and returns the URL the provider finally redirects to (the client's redirect_uri
// with code and state, or with error=...). It does not follow that last redirect.
//
// A refused email or password returns ErrSignInFailed with the page's message; a page that is
// neither the sign-in form nor a redirect returns an error with its status and text.
func (p *Provider) Authorize(ctx context.Context, authorizationURL, email, password string) (string, error) {
	start, err := url.Parse(authorizationURL)
	if err != nil || !p.ownURL(start) {
		return "", fmt.Errorf("oidcdev: the authorization URL is not on this provider (%s)", p.Issuer)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return "", err
	}
	b := browser{hc: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !p.ownURL(req.URL) {
				return http.ErrUseLastResponse // leaving the provider: that is the answer
			}
			if len(via) >= 10 {
				return errors.New("oidcdev: too many redirects")
			}
			return nil
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, start.String(), nil)
	if err != nil {
		return "", err
	}
	pg, err := b.load(req)
	if err != nil || pg.leave != "" {
		return pg.leave, err
	}
	form, ok := pg.form()
	if !ok {
		return "", pg.unexpected()
	}
	if action, err := url.Parse(form.action); err != nil || !p.ownURL(action) {
		return "", fmt.Errorf("oidcdev: the sign-in form posts to %q, off this provider", form.action)
	}
	if req, err = form.submit(ctx, email, password); err != nil {
		return "", err
	}
	if pg, err = b.load(req); err != nil || pg.leave != "" {
		return pg.leave, err
	}
	if msg := pg.alert(); msg != "" {
		return "", fmt.Errorf("%w: %s", ErrSignInFailed, msg)
	}
	return "", pg.unexpected()
}

type browser struct{ hc *http.Client }

// page is what one request came to: a redirect away from the provider, or a page on it.
type page struct {
	leave  string
	url    *url.URL
	status int
	doc    *html.Node
	text   string
}

func (b browser) load(req *http.Request) (page, error) {
	resp, err := b.hc.Do(req)
	if err != nil {
		return page{}, fmt.Errorf("oidcdev: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		to, err := resp.Request.URL.Parse(loc)
		if err != nil {
			return page{}, fmt.Errorf("oidcdev: bad redirect %q: %w", loc, err)
		}
		return page{leave: to.String()}, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return page{}, err
	}
	pg := page{url: resp.Request.URL, status: resp.StatusCode, text: strings.TrimSpace(string(body))}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if pg.doc, err = html.Parse(strings.NewReader(string(body))); err != nil {
			return page{}, fmt.Errorf("oidcdev: %s: %w", pg.url.Path, err)
		}
	}
	return pg, nil
}

func (pg page) unexpected() error {
	text := pg.text
	if pg.doc != nil {
		text = strings.Join(strings.Fields(textOf(pg.doc)), " ")
	}
	if len(text) > 300 {
		text = text[:300] + "…"
	}
	return fmt.Errorf("oidcdev: %s answered %d without a redirect: %s", pg.url.Path, pg.status, text)
}

// alert is the text of the page's role="alert" element, where the sign-in page says what was
// wrong.
func (pg page) alert() string {
	n := find(pg.doc, func(n *html.Node) bool { return attr(n, "role") == "alert" })
	if n == nil {
		return ""
	}
	return strings.Join(strings.Fields(textOf(n)), " ")
}

type form struct {
	action, method string
	fields         []*html.Node
}

// form finds the page's first form with a password field.
func (pg page) form() (form, bool) {
	f := find(pg.doc, func(n *html.Node) bool {
		return n.Type == html.ElementNode && n.Data == "form" &&
			find(n, func(i *html.Node) bool { return i.Data == "input" && attr(i, "type") == "password" }) != nil
	})
	if f == nil {
		return form{}, false
	}
	action, err := pg.url.Parse(attr(f, "action"))
	if err != nil {
		return form{}, false
	}
	out := form{action: action.String(), method: strings.ToUpper(attr(f, "method"))}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			out.fields = append(out.fields, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(f)
	return out, true
}

// submit fills the email and password fields, keeps every other field's value, and builds the
// request the browser would send.
func (f form) submit(ctx context.Context, email, password string) (*http.Request, error) {
	values := url.Values{}
	for _, in := range f.fields {
		name := attr(in, "name")
		switch typ := attr(in, "type"); {
		case typ == "password":
			values.Set(name, password)
		case typ == "email" || name == "email" || name == "username":
			values.Set(name, email)
		case typ == "submit" || typ == "button":
		default:
			values.Set(name, attr(in, "value"))
		}
	}
	if f.method == http.MethodGet {
		u, err := url.Parse(f.action)
		if err != nil {
			return nil, err
		}
		u.RawQuery = values.Encode()
		return http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.action, strings.NewReader(values.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if n == nil {
		return nil
	}
	if match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if m := find(c, match); m != nil {
			return m
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.WriteString(textOf(c))
		b.WriteString(" ")
	}
	return b.String()
}
