package gatewaysvc

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// The web UI is a single-page application on the same origin as the API, so the session cookie
// and the CSRF token work as they do for any API client and no CORS is involved. Its build
// (services/gateway/ui) is embedded: index.html, and script and style under /assets/ whose names
// carry a hash of their content.
//
// A browser opening any page of the UI (/organizations/42, /account) asks for HTML, and gets
// index.html, whose script then routes. API clients never ask for HTML, so an unknown path keeps
// answering them with the API's JSON 404, and the API's own paths never answer with the page,
// whatever the request accepts: an identity provider's redirect to /v1/singleSignOn/callback is
// a browser navigation that must reach the API.

// uiContentSecurityPolicy is sent with the UI's page and files. The UI runs its own script and
// style files only (the build puts nothing inline), talks to its own origin, and may show images
// it made itself (the two-step QR code arrives as PNG bytes in JSON and is shown from a data:
// URL). The identity provider is reached by a top-level navigation, which no directive covers.
const uiContentSecurityPolicy = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; " +
	"script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

const (
	// uiAssets is where the build puts its content-hashed files; a name there never changes
	// content, so browsers keep them for a year without asking again.
	uiAssets        = "/assets/"
	immutableCache  = "public, max-age=31536000, immutable"
	revalidateCache = "no-cache"
)

// uiFile is one file of the build, with what serving it needs.
type uiFile struct {
	body        []byte
	contentType string
	etag        string
}

// webUI serves the UI's files from fsys and sends every other request to api.
type webUI struct {
	index  uiFile
	assets map[string]uiFile // by path under /assets/
	// root are the build's other top-level files (favicon.svg), by their path.
	root map[string]uiFile
	api  http.Handler
}

// newWebUI reads the build in fsys once: it is embedded, so it cannot change while the gateway
// runs.
func newWebUI(fsys fs.FS, api http.Handler) (*webUI, error) {
	u := &webUI{assets: map[string]uiFile{}, root: map[string]uiFile{}, api: api}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		f := uiFile{body: b, contentType: mime.TypeByExtension(path.Ext(p)),
			etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
		if f.contentType == "" {
			f.contentType = http.DetectContentType(b)
		}
		switch {
		case p == "index.html":
			u.index = f
		case strings.HasPrefix(p, "assets/"):
			u.assets["/"+p] = f
		case !strings.Contains(p, "/"):
			u.root["/"+p] = f
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("the web UI's build: %w", err)
	}
	if u.index.body == nil {
		return nil, errors.New("the web UI's build has no index.html (make ui builds it)")
	}
	return u, nil
}

func (u *webUI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case get && strings.HasPrefix(r.URL.Path, uiAssets):
		f, ok := u.assets[r.URL.Path]
		if !ok {
			// A stale page asking for a file of an older build: the page cannot be the answer
			// (it would be read as script or style).
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		serveUIFile(w, r, f, immutableCache)
	case get && u.root[r.URL.Path].body != nil:
		serveUIFile(w, r, u.root[r.URL.Path], revalidateCache)
	case get && !apiPath(r.URL.Path):
		// The same URL is the page for a browser and a 404 for an API client.
		w.Header().Add("Vary", "Accept")
		if acceptsHTML(r.Header.Get("Accept")) {
			// no-cache, not no-store: the browser revalidates with the ETag and gets the page
			// of the build running now, never one that names files a newer build removed.
			serveUIFile(w, r, u.index, revalidateCache)
			return
		}
		u.api.ServeHTTP(w, r)
	default:
		u.api.ServeHTTP(w, r)
	}
}

// serveUIFile answers with f, or 304 when the browser's copy is current.
func serveUIFile(w http.ResponseWriter, r *http.Request, f uiFile, cache string) {
	h := w.Header()
	h.Set("Content-Security-Policy", uiContentSecurityPolicy)
	// The pages of invitation and reset links carry their token in the query string; no
	// request the page makes, and no link it shows, passes the address on.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", cache)
	h.Set("ETag", f.etag)
	// ServeContent answers If-None-Match and ranges; the zero time leaves Last-Modified out,
	// which an embedded file does not have.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// apiPath reports whether p belongs to the API or to the gateway's own pages, which never answer
// with the UI, even to a browser: the API under /v1, the API documents and reference, health,
// version, metrics and the unsubscribe pages (whether or not this gateway serves them).
func apiPath(p string) bool {
	switch p {
	case "/v1", "/docs", "/healthz", "/readyz", "/version", "/metrics", "/unsubscribe":
		return true
	}
	return strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/docs/") ||
		(strings.HasPrefix(p, "/openapi") && strings.HasSuffix(p, ".json"))
}

// acceptsHTML reports whether an Accept header takes text/html (explicitly: a browser's
// navigation says so, while "*/*" is what API clients send).
func acceptsHTML(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(mediaType), "text/html") {
			continue
		}
		return !zeroQuality(params)
	}
	return false
}

// zeroQuality reports whether media type parameters say q=0, "not acceptable".
func zeroQuality(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q == 0
		}
	}
	return false
}
