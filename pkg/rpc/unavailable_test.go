package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/pkg/postgres"
)

// Every way a database or NATS connection is lost or refused answers Unavailable with
// RetryInfo, never an internal error (issue 12: operator calls and in-flight requests got 500).
func TestLostConnectionsAreUnavailableWithRetryInfo(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cases := map[string]error{
		"refused":               fmt.Errorf("begin: %w", refused),
		"reset":                 fmt.Errorf("query: %w", syscall.ECONNRESET),
		"admin shutdown":        &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"},
		"cannot connect now":    &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"},
		"connection exception":  &pgconn.PgError{Code: "08006"},
		"too many connections":  &pgconn.PgError{Code: "53300"},
		"translated by a store": postgres.Translate(fmt.Errorf("insert: %w", refused)),
		"nats closed":           fmt.Errorf("publish: %w", nats.ErrConnectionClosed),
		"nats no servers":       nats.ErrNoServers,
		"peer transport":        status.Error(codes.Unavailable, "connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:9101: connect: connection refused\""),
	}
	for name, err := range cases {
		t.Run(name, func(t *testing.T) {
			got := status.Convert(ToStatus(context.Background(), slog.New(slog.DiscardHandler), "/x.Y/Z", err))
			if got.Code() != codes.Unavailable {
				t.Fatalf("code = %v (%q), want Unavailable", got.Code(), got.Message())
			}
			if strings.Contains(got.Message(), "127.0.0.1") || strings.Contains(got.Message(), "dial") {
				t.Errorf("message leaks the transport's words: %q", got.Message())
			}
			var retry *errdetails.RetryInfo
			for _, d := range got.Details() {
				if ri, ok := d.(*errdetails.RetryInfo); ok {
					retry = ri
				}
			}
			if retry == nil || retry.GetRetryDelay().AsDuration() <= 0 {
				t.Errorf("no RetryInfo in %v", got.Details())
			}
		})
	}
}

// Errors the database answered about the statement, and EOFs that are not a dying server, stay
// what they were: an outage classification must not hide a bug or a bad upload.
func TestStatementErrorsAreNotOutages(t *testing.T) {
	for name, err := range map[string]error{
		"undefined table": &pgconn.PgError{Code: "42P01"},
		"syntax":          &pgconn.PgError{Code: "42601"},
		"truncated image": fmt.Errorf("decode logo: %w", io.ErrUnexpectedEOF),
		"plain":           errors.New("boom"),
	} {
		if Unavailable(err) {
			t.Errorf("%s: classified as unavailable", name)
		}
		if c := status.Code(ToStatus(context.Background(), slog.New(slog.DiscardHandler), "/x.Y/Z", err)); c != codes.Internal {
			t.Errorf("%s: code %v, want Internal", name, c)
		}
	}
}

// An outage fails every call the same way; the log says so once per interval, with a count,
// instead of once per call (40,000 lines in an 18 s outage before).
func TestRepeatedOutageErrorsAreLoggedOncePerIntervalWithACount(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1_000_000, 0)
	m := newErrorMapper(slog.New(slog.NewJSONHandler(&buf, nil)), func() time.Time { return now })
	lost := fmt.Errorf("begin: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	for range 1000 {
		_ = m.toStatus(context.Background(), "/x.Y/Z", lost)
		now = now.Add(time.Millisecond) // 1 s in all
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("%d lines for 1000 identical failures within the interval, want 1:\n%s", n, buf.String())
	}
	now = now.Add(unavailableLogInterval)
	_ = m.toStatus(context.Background(), "/x.Y/Z", lost)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"repeats_since_last_logged":999`) {
		t.Fatalf("after the interval, want a second line counting 999 repeats; got:\n%s", buf.String())
	}
	// A different error is news, logged at once.
	_ = m.toStatus(context.Background(), "/x.Y/Z", fmt.Errorf("query: %w", syscall.ECONNRESET))
	if n := strings.Count(buf.String(), "\n"); n != 3 {
		t.Fatalf("a new error was not logged at once:\n%s", buf.String())
	}
}
