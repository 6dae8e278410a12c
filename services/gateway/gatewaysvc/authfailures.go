package gatewaysvc

import (
	"context"
	"crypto/sha256"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/orgplane/orgplane/pkg/identity"
)

// AuthThrottle bounds how many refused credentials a client may present: each client address
// and each key prefix has an allowance of refusals that refills over time; once it is spent,
// requests from that address or for that prefix get 429 with Retry-After before anything is
// looked up. A credential the org service accepts never spends an allowance, and a key accepted
// within the last ten minutes passes even while its address or prefix is throttled, so an
// attacker sharing a NAT with a client, or guessing at a client's published key prefix, does not
// lock that client out.
type AuthThrottle struct {
	// PerAddress is each client address's allowance (IPv6 clients count by their /64); zero
	// means 20 at once, then one per second.
	PerAddress Allowance
	// PerPrefix is each key prefix's allowance (the first 12 characters, the part of a key org
	// shows), whatever the address; zero means 10 at once, then one every 6 s.
	PerPrefix Allowance
	// TrustedProxies are the load balancers in front of the gateway: for a request from one of
	// them, the client is the last address in X-Forwarded-For that is not one of them. From
	// anyone else the header is ignored, so a client cannot pick its own address.
	TrustedProxies []netip.Prefix
}

// Allowance is a token bucket of refusals.
type Allowance struct {
	// Burst is how many refusals may come at once.
	Burst int
	// Every is how long it takes to earn one more.
	Every time.Duration
}

var (
	defaultPerAddress = Allowance{Burst: 20, Every: time.Second}
	defaultPerPrefix  = Allowance{Burst: 10, Every: 6 * time.Second}
)

const (
	// keyPrefixLen is how much of a key org keeps in clear and shows ("opk_" and 8 characters).
	keyPrefixLen = 12
	// acceptedFor is how long a key org accepted passes a throttled address or prefix.
	acceptedFor = 10 * time.Minute
	// maxJoiners bounds the requests that ride on one credential already being checked: a client
	// opening with a burst on a valid key is not refused, and a burst repeating one bad key
	// reaches org at most this many times.
	maxJoiners = 64
	// maxEntries is the size of a map past which idle entries are swept at once rather than
	// within the minute; an accepted key is remembered only below it.
	maxEntries = 100_000
)

type digest [sha256.Size]byte

// failureThrottle holds the allowances. Requests whose credential is being checked count
// against them until org answers (by distinct credential), so a concurrent burst of bad keys gets
// no more than the allowance through, however fast it arrives.
type failureThrottle struct {
	cfg AuthThrottle
	now func() time.Time

	mu       sync.Mutex
	address  map[string]*failBucket
	prefix   map[string]*failBucket
	accepted map[digest]time.Time // until when a key org accepted passes throttling
	swept    time.Time
}

type failBucket struct {
	tokens  float64
	at      time.Time
	pending map[digest]int // credentials being checked, and how many requests wait on each
}

func newFailureThrottle(cfg AuthThrottle, now func() time.Time) *failureThrottle {
	if cfg.PerAddress.Burst <= 0 || cfg.PerAddress.Every <= 0 {
		cfg.PerAddress = defaultPerAddress
	}
	if cfg.PerPrefix.Burst <= 0 || cfg.PerPrefix.Every <= 0 {
		cfg.PerPrefix = defaultPerPrefix
	}
	return &failureThrottle{cfg: cfg, now: now, address: map[string]*failBucket{}, prefix: map[string]*failBucket{},
		accepted: map[digest]time.Time{}, swept: now()}
}

// admission is a credential let through to be checked; done reports what org said.
type admission struct {
	f             *failureThrottle
	address, pref string
	key           digest
	counted       bool // holds a place in both buckets' pending
}

// admit lets a credential through to be checked, or says how long to wait.
func (f *failureThrottle) admit(r *http.Request, cred string) (admission, time.Duration, bool) {
	cred = strings.TrimSpace(cred)
	a := admission{f: f, address: f.clientAddress(r), pref: "p:" + cred[:min(keyPrefixLen, len(cred))],
		key: sha256.Sum256([]byte(cred))}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.sweep(now, len(f.address) >= maxEntries || len(f.prefix) >= maxEntries || len(f.accepted) >= maxEntries)
	if until, ok := f.accepted[a.key]; ok && now.Before(until) {
		return a, 0, true
	}
	ab := f.bucket(f.address, a.address, f.cfg.PerAddress, now)
	pb := f.bucket(f.prefix, a.pref, f.cfg.PerPrefix, now)
	if wait := max(ab.wait(a.key, f.cfg.PerAddress), pb.wait(a.key, f.cfg.PerPrefix)); wait > 0 {
		return admission{}, wait, false
	}
	ab.pending[a.key]++
	pb.pending[a.key]++
	a.counted = true
	return a, 0, true
}

// outcome is what org said of a credential.
type outcome int

const (
	accepted outcome = iota
	refused
	undecided // org did not answer: neither spends nor vouches
)

func (a admission) done(o outcome) {
	f := a.f
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if !a.counted && o != refused {
		f.vouch(a.key, o, now)
		return
	}
	for _, b := range []struct {
		m     map[string]*failBucket
		key   string
		allow Allowance
	}{{f.address, a.address, f.cfg.PerAddress}, {f.prefix, a.pref, f.cfg.PerPrefix}} {
		bk := f.bucket(b.m, b.key, b.allow, now)
		if a.counted {
			if bk.pending[a.key]--; bk.pending[a.key] <= 0 {
				delete(bk.pending, a.key)
			}
		}
		if o == refused {
			bk.tokens = max(bk.tokens-1, 0)
		}
	}
	f.vouch(a.key, o, now)
}

// vouch remembers a key org accepted and forgets one it refused.
func (f *failureThrottle) vouch(key digest, o outcome, now time.Time) {
	switch o {
	case accepted:
		if _, ok := f.accepted[key]; ok || len(f.accepted) < maxEntries {
			f.accepted[key] = now.Add(acceptedFor)
		}
	case refused:
		delete(f.accepted, key)
	}
}

// bucket returns key's bucket in m, refilled to now.
func (*failureThrottle) bucket(m map[string]*failBucket, key string, allow Allowance, now time.Time) *failBucket {
	b, ok := m[key]
	if !ok {
		b = &failBucket{tokens: float64(allow.Burst), at: now, pending: map[digest]int{}}
		m[key] = b
		return b
	}
	if now.After(b.at) {
		b.tokens = math.Min(float64(allow.Burst), b.tokens+float64(now.Sub(b.at))/float64(allow.Every))
		b.at = now
	}
	return b
}

// wait is how long until key may be checked: at once if it is already being checked (it spends
// nothing more), else once a refusal is available beyond those being checked.
func (b *failBucket) wait(key digest, allow Allowance) time.Duration {
	if n := b.pending[key]; n > 0 {
		if n < maxJoiners {
			return 0
		}
		return allow.Every
	}
	free := b.tokens - float64(len(b.pending))
	if free >= 1 {
		return 0
	}
	return time.Duration((1 - free) * float64(allow.Every))
}

// sweep drops full, idle buckets and lapsed acceptances, once a minute or when forced.
func (f *failureThrottle) sweep(now time.Time, force bool) {
	if !force && now.Sub(f.swept) < time.Minute {
		return
	}
	f.swept = now
	for _, s := range []struct {
		m     map[string]*failBucket
		allow Allowance
	}{{f.address, f.cfg.PerAddress}, {f.prefix, f.cfg.PerPrefix}} {
		for k, b := range s.m {
			full := b.tokens+float64(now.Sub(b.at))/float64(s.allow.Every) >= float64(s.allow.Burst)
			if full && len(b.pending) == 0 {
				delete(s.m, k)
			}
		}
	}
	for k, until := range f.accepted {
		if !now.Before(until) {
			delete(f.accepted, k)
		}
	}
}

// clientAddress names the client r comes from for throttling: its address (clientIP), or for
// an IPv6 client its /64, which one subscriber holds whole.
func (f *failureThrottle) clientAddress(r *http.Request) string {
	ip := f.clientIP(r)
	if !ip.IsValid() {
		return "a:" + r.RemoteAddr
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "a:" + p.String()
	}
	return "a:" + ip.String()
}

// clientIP is the client r comes from: the peer, or for a trusted proxy the last untrusted
// address it forwarded.
func (f *failureThrottle) clientIP(r *http.Request) netip.Addr {
	ip := peerAddr(r.RemoteAddr)
	if ip.IsValid() && f.trusted(ip) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // what a proxy did not write cannot be trusted; keep the last known hop
			}
			ip = hop.Unmap()
			if !f.trusted(ip) {
				break
			}
		}
	}
	return ip
}

func (f *failureThrottle) trusted(ip netip.Addr) bool {
	for _, p := range f.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	ip, _ := netip.ParseAddr(remote)
	return ip.Unmap()
}

// checkAPIKey is authenticateAPIKey behind the failure throttle: a throttled request gets
// ResourceExhausted with the wait and costs org nothing.
func (g *Gateway) checkAPIKey(r *http.Request, cred string) (identity.Identity, error) {
	return g.checkCredential(r, cred, g.authenticateAPIKey)
}

// checkSession is authenticateSession behind the same throttle: a guessed cookie spends the
// client's allowance as a guessed key does.
func (g *Gateway) checkSession(r *http.Request, token string, attest metadata.MD) (identity.Identity, error) {
	return g.checkCredential(r, token, func(ctx context.Context, token string) (identity.Identity, error) {
		return g.authenticateSession(ctx, token, attest)
	})
}

func (g *Gateway) checkCredential(r *http.Request, cred string, lookup func(context.Context, string) (identity.Identity, error)) (identity.Identity, error) {
	a, wait, ok := g.failures.admit(r, cred)
	if !ok {
		secs := max(1, int(math.Ceil(wait.Seconds())))
		s, _ := status.New(codes.ResourceExhausted, "too many failed authentication attempts; retry after "+strconv.Itoa(secs)+" s").
			WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(secs) * time.Second)})
		return identity.Identity{}, s.Err()
	}
	id, err := lookup(r.Context(), cred)
	switch status.Code(err) {
	case codes.OK:
		a.done(accepted)
	case codes.Unauthenticated, codes.InvalidArgument:
		a.done(refused)
	default:
		a.done(undecided)
	}
	return id, err
}

// writeThrottled answers a throttled authentication: 429 with Retry-After, like the rate limit.
func writeThrottled(w http.ResponseWriter, err error) {
	s := status.Convert(err)
	for _, d := range s.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds())))))
		}
	}
	writeStatus(w, s)
}
