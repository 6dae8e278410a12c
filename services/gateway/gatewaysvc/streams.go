package gatewaysvc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Server streams (GET .../notifications:stream) reach REST clients as newline-delimited JSON,
// one {"result": ...} per message, over a response that stays open. What suits a call does not
// suit them, so the gateway treats them apart:
//   - no upstream timeout and no server write timeout, but a lifetime (StreamLifetime)
//     after which the stream ends and the client reconnects: a credential revoked meanwhile
//     stops there at the latest;
//   - they end when the gateway stops, so a drain is not held up by idle streams;
//   - nothing buffers them: no ETag (which hashes a whole body) and no compression (which
//     holds back what it has not filled a block with);
//   - the HTTP status is the service's answer to the call: a refused stream is a 403 or 404 like
//     any call (streamRefusals), and an accepted one answers 200 at once (streamStarted), so a
//     client knows it is connected before the first notification.

// DefaultStreamLifetime is how long a server stream lasts when Config.StreamLifetime is zero.
const DefaultStreamLifetime = 15 * time.Minute

// streamSlack is how far past a stream's end the connection's write deadline lies, so the stream's
// own ending, not a timeout, closes it.
const streamSlack = 10 * time.Second

func (g *Gateway) isStream(r *http.Request) bool {
	return g.routes != nil && g.routes.streaming(r.Method, r.URL.Path)
}

// serveStream runs a stream for its lifetime, lifting the server's write timeout (set for
// calls) on its connection until then. The read timeout does not apply: net/http lifts it once
// a request without a body is read.
func (g *Gateway) serveStream(next http.Handler, w http.ResponseWriter, r *http.Request) {
	end := time.Now().Add(g.cfg.StreamLifetime)
	ctx, cancel := context.WithDeadline(r.Context(), end)
	defer cancel()
	defer context.AfterFunc(g.done, cancel)()
	_ = http.NewResponseController(w).SetWriteDeadline(end.Add(streamSlack))
	next.ServeHTTP(w, r.WithContext(ctx))
}

// streamStarted is a forward-response option: grpc-gateway calls it with no message when a
// stream the service accepted begins, and writes nothing itself until the first message. It
// sends the headers then.
func streamStarted(_ context.Context, w http.ResponseWriter, m proto.Message) error {
	if m != nil {
		return nil
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-store")
	// Proxies that buffer responses (nginx) would hold the notifications back.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return http.NewResponseController(w).Flush()
}

// streamRefusals makes a service's refusal of a stream reach the REST caller as an HTTP status.
// gRPC delivers the refusal of a stream with its first read, and grpc-gateway reads only after
// it has begun the response, which would make every refusal a 200 with an error inside; here
// the refusal surfaces at Header, which grpc-gateway calls before it begins. An upstream that
// cannot be reached is reported in the gateway's words, as for calls (upstreamUnavailable).
func streamRefusals(service string, log func(msg string, args ...any)) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		mask := func(err error) error { return maskUnavailable(service, method, err, log) }
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, mask(err)
		}
		return &refusingStream{ClientStream: cs, ctx: ctx, mask: mask}, nil
	}
}

type refusingStream struct {
	grpc.ClientStream
	ctx  context.Context
	mask func(error) error
}

// Header returns the service's headers, sent when it accepts the stream; a stream that ended
// without any (refused, or empty) has finished, and its first read says how.
func (s *refusingStream) Header() (metadata.MD, error) {
	md, err := s.ClientStream.Header()
	if err != nil || md != nil {
		return md, s.mask(err)
	}
	if err := s.ClientStream.RecvMsg(new(emptypb.Empty)); err != nil && !errors.Is(err, io.EOF) {
		return nil, s.mask(err)
	}
	return nil, nil
}

// RecvMsg ends the stream cleanly when the gateway ended it (its lifetime is over, the gateway
// is stopping, or the client left): the client sees the end of the response and reconnects,
// rather than an error it did not cause.
func (s *refusingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil && (s.ctx.Err() != nil || s.lifetimeOver(err)) {
		return io.EOF
	}
	return s.mask(err)
}

// lifetimeEarly is how far before the stream's own deadline a deadline error still counts as
// the lifetime's end.
const lifetimeEarly = time.Second

// lifetimeOver tells the service's end of the lifetime from a failure. The deadline travels to
// the service as a grpc-timeout, rounded down, and the service's timer may fire (and its
// RST_STREAM arrive) before the gateway's own: the stream ends with DeadlineExceeded while the
// gateway's context is, for a moment, still live.
func (s *refusingStream) lifetimeOver(err error) bool {
	dl, ok := s.ctx.Deadline()
	return ok && status.Code(err) == codes.DeadlineExceeded && time.Until(dl) < lifetimeEarly
}
