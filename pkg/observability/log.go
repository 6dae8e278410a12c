// Package observability sets up what every process reports: logs that carry trace ids (text for
// a person at a terminal, JSON for a log pipeline), OpenTelemetry traces and metrics (exported as
// the standard OTEL_* variables say) and metrics served in Prometheus format.
package observability

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/lmittmann/tint"
	"go.opentelemetry.io/otel/trace"
)

// FormatEnv names the variable that chooses the log format over the terminal guess.
const FormatEnv = "ORGPLANE_LOG_FORMAT"

// Format is how log records are written.
type Format string

const (
	// FormatAuto writes text to a terminal and JSON to anything else (a pipe, a file, a
	// container runtime), so a person and a log pipeline each get what they can read.
	FormatAuto Format = ""
	FormatText Format = "text"
	FormatJSON Format = "json"
)

// ParseFormat reads a format as FormatEnv spells it; "" and "auto" mean FormatAuto.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case FormatAuto, "auto":
		return FormatAuto, nil
	case FormatText, FormatJSON:
		return f, nil
	}
	return FormatAuto, fmt.Errorf("%s=%q: want text, json or auto", FormatEnv, s)
}

// NewLogger returns the process's logger in the format FormatEnv asks for (see FormatAuto when
// it is unset). Every record logged with a traced context carries trace_id and span_id, so a log
// line leads to its trace. Callers tag it with "service".
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	format, err := ParseFormat(os.Getenv(FormatEnv))
	log := NewLoggerFormat(w, level, format)
	if err != nil {
		// The logger is built before anything could report a bad setting; a process that
		// still starts is better than one that dies over how it writes its logs.
		log.Warn("unknown log format; choosing by terminal", "error", err)
	}
	return log
}

// NewLoggerFormat is NewLogger with the format given rather than read from the environment.
func NewLoggerFormat(w io.Writer, level slog.Leveler, format Format) *slog.Logger {
	if format == FormatAuto {
		format = FormatJSON
		if isTerminal(w) {
			format = FormatText
		}
	}
	var h slog.Handler
	if format == FormatText {
		_, noColor := os.LookupEnv("NO_COLOR") // https://no-color.org
		h = tint.NewTextHandler(w, &tint.Options{Level: level, ReplaceAttr: redact, TimeFormat: "15:04:05.000", NoColor: noColor || !isTerminal(w)})
	} else {
		h = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redact})
	}
	return slog.New(traceHandler{h})
}

// isTerminal reports whether w is a character device. /dev/null is one too, which costs nothing:
// nobody reads what goes there.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Redacted replaces the value of an attribute whose key names a secret.
const Redacted = "[REDACTED]"

// redact is a last line of defence: code should never log a secret, but an attribute named like
// one (a password, a token, an Authorization header) is blanked rather than trusted to be safe.
func redact(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindGroup || !secretKey(a.Key) {
		return a
	}
	return slog.String(a.Key, Redacted)
}

func secretKey(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"password", "passwd", "secret", "authorization", "cookie", "api_key", "apikey"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return k == "token" || strings.HasSuffix(k, "_token") || strings.HasSuffix(k, "-token")
}

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
