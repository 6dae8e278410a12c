package gatewaysvc

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/rs/cors"
)

// withCORS lets the browser origins listed call the API, and no other: an empty list allows none
// (the CORS library on its own reads an empty list as every origin). Each entry is one exact
// origin, scheme://host[:port] as a browser sends it in Origin, compared byte for byte.
//
// "*" and wildcards are refused rather than supported (allowedOrigins). The API serves a browser
// UI with user sessions, and with a session a wildcard would hand every page (or every subdomain,
// one of which may be anyone's) the signed-in user's data. Refusing it means no deployment comes
// to rely on it. An operator with several front ends lists each one.
//
// The listed origins, and only they, may send credentials (the session cookie) and the
// X-CSRF-Token header that a cookie request changing something needs; the gateway refuses a
// cookie request from any other origin itself (sessions.go), whatever the browser does with
// these answers.
func withCORS(allowed map[string]bool, next http.Handler) http.Handler {
	return cors.New(cors.Options{
		// A function, even over an empty set: the library treats an empty list as "*".
		AllowOriginFunc:  func(origin string) bool { return allowed[origin] },
		AllowedMethods:   []string{"GET", "POST", "PUT", "PATCH", "DELETE"},
		AllowedHeaders:   []string{"Authorization", "Content-Type", "X-Request-Id", "If-None-Match", csrfHeader},
		ExposedHeaders:   []string{"X-Request-Id", "ETag", "Retry-After"},
		AllowCredentials: true,
		MaxAge:           600,
	}).Handler(next)
}

// allowedOrigins checks the configured CORS origins and returns them as browsers send them.
func allowedOrigins(origins []string) (map[string]bool, error) {
	allowed := map[string]bool{}
	for _, o := range origins {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		norm, err := exactOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("CORS origin %q: %w", o, err)
		}
		allowed[norm] = true
	}
	return allowed, nil
}

// exactOrigin checks that o is one origin and returns it as browsers serialize it (scheme and
// host in lower case).
func exactOrigin(o string) (string, error) {
	switch {
	case o == "*":
		return "", errors.New(`"*" is not accepted: list each origin allowed (see the README)`)
	case strings.Contains(o, "*"):
		return "", errors.New("wildcards are not accepted: list each origin exactly")
	case strings.EqualFold(o, "null"):
		return "", errors.New(`"null" is what sandboxed and file: pages send, so it would admit anyone`)
	}
	u, err := url.Parse(o)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "https" && scheme != "http":
		return "", errors.New("want https://host or http://host")
	case u.Opaque != "" || u.User != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#"):
		return "", errors.New("an origin is scheme://host[:port], with no path, query or credentials")
	}
	host := strings.ToLower(u.Hostname())
	for _, r := range host {
		if r > 127 {
			return "", errors.New("write the host as a browser sends it (punycode)")
		}
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("port %q is not a port", port)
		}
		if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
			return "", errors.New("drop the default port: browsers do not send it")
		}
		if strconv.Itoa(n) != port {
			return "", fmt.Errorf("write the port %d as browsers do", n)
		}
	}
	hostport := host
	if strings.Contains(host, ":") {
		hostport = "[" + host + "]"
	}
	if p := u.Port(); p != "" {
		hostport += ":" + p
	}
	return scheme + "://" + hostport, nil
}
