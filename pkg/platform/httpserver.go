package platform

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// HTTPLimits bound what one client can hold of an HTTP server: how long it may take to send a
// request, how long a response may take, how long an idle keep-alive connection is kept, how
// large the headers may be, and (for the public edge) how many connections one address may
// open. The README ("The public REST API") explains the values.
type HTTPLimits struct {
	// ReadHeaderTimeout bounds the request line and headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the whole request, body included, from the first byte: a body sent a
	// byte at a time is cut when it runs out, and its handler's read fails.
	ReadTimeout time.Duration
	// WriteTimeout bounds a response from the end of the request headers; it is longer than the
	// gateway's upstream timeout so a slow call still gets its answer.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends nothing more.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
	// MaxConnsPerClient bounds the open connections of one remote IP; 0 means no bound.
	MaxConnsPerClient int
	// Uncapped are addresses MaxConnsPerClient does not apply to: the load balancers in front,
	// whose connections carry many clients (cap those at the load balancer).
	Uncapped []netip.Prefix
	// ShutdownTimeout bounds the drain of in-flight requests when the server stops.
	ShutdownTimeout time.Duration
}

// DefaultHTTPLimits are every Orgplane HTTP server's: the gateway's, whose largest request is a
// logo of a few MiB and whose calls to the services end after 30 s, and the admin endpoints'.
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      45 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ShutdownTimeout:   40 * time.Second,
	}
}

// GatewayHTTPLimits are DefaultHTTPLimits with a per-client connection cap: a browser opens six
// connections per host, a script a handful; 64 leaves room for offices behind one address while
// a client pinning thousands of sockets gets 503s beyond them.
func GatewayHTTPLimits() HTTPLimits {
	l := DefaultHTTPLimits()
	l.MaxConnsPerClient = 64
	return l
}

// ServeHTTP serves h on lis with DefaultHTTPLimits until ctx ends, then drains gracefully.
func ServeHTTP(ctx context.Context, lis net.Listener, h http.Handler) error {
	return ServeHTTPWith(ctx, lis, h, DefaultHTTPLimits())
}

// ServeHTTPWith serves h on lis within limits until ctx ends, then stops accepting, closes idle
// connections, lets in-flight requests finish (up to ShutdownTimeout) and returns.
func ServeHTTPWith(ctx context.Context, lis net.Listener, h http.Handler, limits HTTPLimits) error {
	if limits.MaxConnsPerClient > 0 {
		lis = LimitConnsPerClient(lis, limits.MaxConnsPerClient, limits.Uncapped...)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: limits.ReadHeaderTimeout,
		ReadTimeout:       limits.ReadTimeout,
		WriteTimeout:      limits.WriteTimeout,
		IdleTimeout:       limits.IdleTimeout,
		MaxHeaderBytes:    limits.MaxHeaderBytes,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Responses sent while draining say "Connection: close", so clients reconnect elsewhere
	// rather than send their next request into a closing server.
	srv.SetKeepAlivesEnabled(false)
	sctx, cancel := context.WithTimeout(context.Background(), max(limits.ShutdownTimeout, time.Second))
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// LimitConnsPerClient wraps lis so that one remote IP holds at most n connections: a connection
// beyond them gets a plain 503 with Retry-After and is closed at once, costing a descriptor for
// microseconds instead of for as long as the client cares to keep it.
// Connections from uncapped addresses are not counted.
func LimitConnsPerClient(lis net.Listener, n int, uncapped ...netip.Prefix) net.Listener {
	return &perClientListener{Listener: lis, max: n, uncapped: uncapped, open: map[string]int{}}
}

type perClientListener struct {
	net.Listener
	max      int
	uncapped []netip.Prefix
	mu       sync.Mutex
	open     map[string]int
}

func (l *perClientListener) capped(host string) bool {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return true
	}
	ip = ip.Unmap()
	for _, p := range l.uncapped {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

const tooManyConns = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n" +
	"Connection: close\r\nContent-Length: 76\r\n\r\n" +
	`{"code":14,"message":"too many connections from this address","details":[]}` + "\n"

func (l *perClientListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := remoteHost(c)
		if !l.capped(host) {
			return c, nil
		}
		l.mu.Lock()
		if l.open[host] >= l.max {
			l.mu.Unlock()
			go refuse(c)
			continue
		}
		l.open[host]++
		l.mu.Unlock()
		return &countedConn{Conn: c, release: func() { l.release(host) }}, nil
	}
}

func (l *perClientListener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[host]--; l.open[host] <= 0 {
		delete(l.open, host)
	}
}

func refuse(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write([]byte(tooManyConns))
	_ = c.Close()
}

func remoteHost(c net.Conn) string {
	if host, _, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
		return host
	}
	return c.RemoteAddr().String()
}

type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
