package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// Server-streaming routes (GET .../notifications:stream) answer their status as soon as the
// service accepts or refuses the stream, then stay open. The generated route tests call them
// with openStream, which takes the status and, for an open stream, hangs up at once: reading
// the body as for any call would wait for the stream's end (minutes).

// openStream calls a streaming route and returns its status: for 200, the stream was open (its
// body is not read); otherwise the whole refusal. A stream that does not answer within 10 s
// comes back as code -1.
func (s *suite) openStream(method, path, token string) response {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.st.GatewayURL+path, nil)
	if err != nil {
		return response{code: -1, body: []byte(err.Error())}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{code: -1, body: []byte("no answer within 10 s: " + err.Error())}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return response{code: resp.StatusCode, header: resp.Header}
	}
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

// streamingOperation reports whether an operation of the API document (its raw JSON) answers
// with a stream: protoc-gen-openapiv2 titles a stream's 200 schema "Stream result of T".
func streamingOperation(op json.RawMessage) bool {
	return bytes.Contains(op, []byte(`"Stream result of`))
}

// streamLine is one message of a stream: {"result": ...} or {"error": ...}.
type streamLine struct {
	Result map[string]any `json:"result"`
	Error  map[string]any `json:"error"`
}

// liveStream is an open stream a test reads messages from.
type liveStream struct {
	resp   *http.Response
	lines  chan streamLine
	cancel context.CancelFunc
}

// connectStream opens a streaming route as token and fails the test unless it answers 200.
func (s *suite) connectStream(path, token string) *liveStream {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", s.st.GatewayURL+path, nil)
	if err != nil {
		cancel()
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	answered := time.AfterFunc(10*time.Second, cancel)
	resp, err := http.DefaultClient.Do(req)
	answered.Stop()
	if err != nil {
		cancel()
		s.t.Fatalf("stream %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		s.t.Fatalf("stream %s: %d %s", path, resp.StatusCode, b)
	}
	ls := &liveStream{resp: resp, lines: make(chan streamLine, 100), cancel: cancel}
	go func() {
		defer close(ls.lines)
		dec := json.NewDecoder(resp.Body)
		for {
			var l streamLine
			if err := dec.Decode(&l); err != nil {
				return
			}
			ls.lines <- l
		}
	}()
	s.t.Cleanup(ls.close)
	return ls
}

func (ls *liveStream) close() {
	ls.cancel()
	_ = ls.resp.Body.Close()
}

// next waits up to d for the next message.
func (ls *liveStream) next(d time.Duration) (streamLine, bool) {
	select {
	case l, ok := <-ls.lines:
		return l, ok
	case <-time.After(d):
		return streamLine{}, false
	}
}
