package gatewaysvc

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/orgplane/orgplane/pkg/identity"
)

// Request body limits: JSON requests are small; a logo upload carries up to 2 MiB of image as
// base64. The logo limit leaves room for an oversized image to reach the service, which refuses
// it naming the field; beyond it the gateway answers 413 without reading further.
const (
	maxJSONBody = 1 << 20
	maxLogoBody = 5 << 20
)

// limitBody answers 413 for a body over the route's limit, before anything reads it.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := int64(maxJSONBody)
		if strings.HasSuffix(r.URL.Path, "/logo") {
			limit = maxLogoBody
		}
		if r.ContentLength > limit {
			writeTooLarge(w, limit)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

func writeTooLarge(w http.ResponseWriter, limit int64) {
	s := status.New(codes.InvalidArgument, "request body is larger than "+strconv.FormatInt(limit>>20, 10)+" MiB")
	writeStatusCode(w, s, http.StatusRequestEntityTooLarge)
}

// RateLimit configures the per-credential token bucket.
type RateLimit struct {
	// PerSecond is the sustained rate; 0 disables limiting.
	PerSecond float64
	// Burst is how many requests may arrive at once.
	Burst int
}

// limiter keeps one token bucket per credential. Buckets idle for longer than it takes to
// refill are dropped, so memory follows the number of active keys, not all keys ever seen.
type limiter struct {
	cfg     RateLimit
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

func newLimiter(cfg RateLimit) *limiter {
	return &limiter{cfg: cfg, buckets: map[string]*bucket{}, swept: time.Now()}
}

// allow takes a token for key, or reports how long until one is available.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	idle := time.Duration(float64(l.cfg.Burst)/l.cfg.PerSecond*float64(time.Second)) + time.Minute
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > idle {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{l: rate.NewLimiter(rate.Limit(l.cfg.PerSecond), l.cfg.Burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (g *Gateway) limitRate(next http.Handler) http.Handler {
	if g.cfg.RateLimit.PerSecond <= 0 {
		return next
	}
	l := newLimiter(g.cfg.RateLimit)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := identity.From(r.Context())
		key := string(id.Kind) + ":" + id.PrincipalID
		if c := callFrom(r.Context()); c != nil && c.public {
			// Everyone's public calls are the gateway's: each client gets its own bucket.
			key = "public:" + g.failures.clientAddress(r)
		}
		ok, wait := l.allow(key, time.Now())
		if !ok {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			s, _ := status.New(codes.ResourceExhausted, "rate limit exceeded; retry after "+strconv.Itoa(secs)+" s").
				WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)})
			writeStatus(w, s)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// etag gives successful GET responses a strong ETag and answers a matching If-None-Match with
// 304, so browsers and scripts polling a list or a logo pay for the body only when it changed.
// Responses are small enough to hash (a page holds at most 1,000 items); streams (skip) are
// not, and pass untouched.
func etag(skip func(*http.Request) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || skip(r) {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		if rec.status == http.StatusOK {
			tag := rec.header.Get("ETag")
			if tag == "" {
				sum := sha256.Sum256(rec.body.Bytes())
				tag = `"` + hex.EncodeToString(sum[:16]) + `"`
				w.Header().Set("ETag", tag)
			}
			if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, tag) {
				w.Header().Del("Content-Length")
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	})
}

func etagMatches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == tag || t == "*" {
			return true
		}
	}
	return false
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
