package gatewaysvc

import (
	"math"
	"net/http"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/orgplane/orgplane/pkg/rpc"
)

// unavailableStatus is the gateway's own Unavailable, shaped like a service's: RetryInfo with
// the same delay as Retry-After.
func unavailableStatus(msg string) *status.Status {
	s, _ := status.New(codes.Unavailable, msg).WithDetails(
		&errdetails.RetryInfo{RetryDelay: durationpb.New(rpc.UnavailableRetryDelay)},
		&errdetails.ErrorInfo{Reason: "UNAVAILABLE", Domain: rpc.ErrorDomain},
	)
	return s
}

// retryAfterOn503 gives every 503 a Retry-After, whichever layer wrote it: a service's
// Unavailable (which carries the same delay in RetryInfo), a service the gateway cannot reach,
// or the API-key check while org is away. Clients and proxies then back off the same way on
// every route and credential kind.
func retryAfterOn503(next http.Handler) http.Handler {
	secs := strconv.Itoa(max(1, int(math.Ceil(rpc.UnavailableRetryDelay.Seconds()))))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&retryAfterWriter{ResponseWriter: w, secs: secs}, r)
	})
}

type retryAfterWriter struct {
	http.ResponseWriter
	secs string
}

func (w *retryAfterWriter) WriteHeader(code int) {
	if code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", w.secs)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (flushes, deadlines).
func (w *retryAfterWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
