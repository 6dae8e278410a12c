package gatewaysvc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// requireUTF8 refuses a JSON body that is not valid UTF-8, naming the field that holds the bad
// bytes. The JSON decoder behind grpc-gateway would refuse it too, but without saying where.
func requireUTF8(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Path and query parameters end up in proto strings too, which must be UTF-8.
		if !utf8.ValidString(r.URL.Path) {
			writeInvalidUTF8(w, "path")
			return
		}
		q := r.URL.Query()
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !utf8.ValidString(k) {
				writeInvalidUTF8(w, "query")
				return
			}
			for _, v := range q[k] {
				if !utf8.ValidString(v) {
					writeInvalidUTF8(w, k)
					return
				}
			}
		}
		if r.Body == nil || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body) // limited by limitBody
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeTooLarge(w, tooLarge.Limit)
			return
		}
		if err != nil {
			writeStatus(w, status.New(codes.InvalidArgument, "request body unreadable"))
			return
		}
		if !utf8.Valid(body) {
			writeInvalidUTF8(w, invalidUTF8Field(body))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func writeInvalidUTF8(w http.ResponseWriter, field string) {
	s, _ := status.New(codes.InvalidArgument, field+": is not valid UTF-8 text").WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: "is not valid UTF-8 text"}},
	})
	writeStatus(w, s)
}

// invalidUTF8Field finds the JSON path of the first string holding invalid UTF-8. encoding/json
// turns such bytes into U+FFFD, so a string with U+FFFD where the raw body has no encoded
// U+FFFD is the culprit.
func invalidUTF8Field(body []byte) string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return "body"
	}
	literal := bytes.Contains(body, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`))
	if literal {
		return "body"
	}
	if p := findReplacement(v, ""); p != "" {
		return p
	}
	return "body"
}

func findReplacement(v any, path string) string {
	switch t := v.(type) {
	case string:
		if strings.ContainsRune(t, utf8.RuneError) {
			if path == "" {
				return "body"
			}
			return path
		}
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if strings.ContainsRune(k, utf8.RuneError) {
				return p
			}
			if f := findReplacement(t[k], p); f != "" {
				return f
			}
		}
	case []any:
		for i, e := range t {
			if f := findReplacement(e, path+"["+strconv.Itoa(i)+"]"); f != "" {
				return f
			}
		}
	}
	return ""
}
