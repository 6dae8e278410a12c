package gatewaysvc_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	notificationv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/notification/v1"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

// fakeFeed streams what the test pushes, after telling the gateway it accepted the stream.
type fakeFeed struct {
	notificationv1.UnimplementedNotificationServiceServer
	push chan *notificationv1.Notification
	// endEarly, when set, makes the feed give up with DeadlineExceeded this long before the
	// deadline it was given, as a service whose timer fires before the gateway's does.
	endEarly time.Duration
}

func (f *fakeFeed) StreamNotifications(_ *notificationv1.StreamNotificationsRequest, s grpc.ServerStreamingServer[notificationv1.Notification]) error {
	if err := s.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	var early <-chan time.Time
	if dl, ok := s.Context().Deadline(); ok && f.endEarly > 0 {
		early = time.After(time.Until(dl) - f.endEarly)
	}
	for {
		select {
		case <-s.Context().Done():
			return nil
		case <-early:
			return status.Error(codes.DeadlineExceeded, "context deadline exceeded")
		case n := <-f.push:
			if err := s.Send(n); err != nil {
				return err
			}
		}
	}
}

// The fakeOrg's keys act in this account (authfailures_test.go).
const feedAccount = "00000000-0000-4000-8000-0000000000aa"

const feedKey = "opk_feed0000xxxxxxxxxxxxxxxxxxxxxxxxxxxx"

// streamGateway serves a gateway in front of a fake feed over a server whose call timeouts are
// far shorter than the test's streams.
func streamGateway(t *testing.T, lifetime time.Duration) (*httptest.Server, *fakeFeed) {
	t.Helper()
	keys := testkit.Keyring(t)
	feed := &fakeFeed{push: make(chan *notificationv1.Notification)}
	gw := startGateway(t, gatewaysvc.Config{Keys: keys, StreamLifetime: lifetime, Upstreams: []gatewaysvc.Upstream{
		{Name: "org", Addr: serveFakeOrg(t, feedKey)}, {Name: "notification", Addr: serveNotification(t, keys, nil, feed),
			Routes: []platform.Route{notificationv1.RegisterNotificationServiceHandler}},
	}}, func(s *http.Server) {
		s.ReadTimeout, s.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond
	})
	return gw, feed
}

func openStream(t *testing.T, ctx context.Context, url, key string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestStreamAnswersAtOnceAndOutlivesTheCallTimeouts(t *testing.T) {
	gw, feed := streamGateway(t, 3*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	start := time.Now()
	resp := openStream(t, ctx, gw.URL+"/v1/accounts/"+feedAccount+"/notifications:stream", feedKey)
	defer resp.Body.Close()
	// Headers come before any notification: the client knows it is connected.
	if resp.StatusCode != http.StatusOK || time.Since(start) > 2*time.Second {
		t.Fatalf("stream opened with %d after %v", resp.StatusCode, time.Since(start))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("ETag") != "" {
		t.Errorf("a stream was compressed or hashed: %v", resp.Header)
	}

	// Past the server's read and write timeouts, the stream still delivers.
	time.Sleep(time.Second)
	lines := bufio.NewScanner(resp.Body)
	for _, title := range []string{"New review assignment", "Another one"} {
		select {
		case feed.push <- &notificationv1.Notification{Id: "n-" + title, Title: title}:
		case <-ctx.Done():
			t.Fatal("the feed's stream ended")
		}
		if !lines.Scan() {
			t.Fatalf("no line for %q: %v", title, lines.Err())
		}
		var got struct {
			Result struct {
				Title string `json:"title"`
			} `json:"result"`
		}
		if err := json.Unmarshal(lines.Bytes(), &got); err != nil || got.Result.Title != title {
			t.Fatalf("line %s (%v), want the notification %q", lines.Bytes(), err, title)
		}
	}
	// The stream ends at its lifetime, cleanly, and the client reconnects.
	rest, err := io.ReadAll(resp.Body)
	if err != nil || len(rest) != 0 {
		t.Fatalf("end of stream: %q %v", rest, err)
	}
	if d := time.Since(start); d < 2500*time.Millisecond || d > 6*time.Second {
		t.Fatalf("the stream lasted %v, want its 3 s lifetime", d)
	}
}

// The service's copy of the deadline can run out first (it travels rounded down, and timers fire
// late under load): the stream still ends cleanly at its lifetime, not with an error line.
func TestStreamEndsCleanlyWhenTheServiceTimesOutFirst(t *testing.T) {
	gw, feed := streamGateway(t, 1500*time.Millisecond)
	feed.endEarly = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := openStream(t, ctx, gw.URL+"/v1/accounts/"+feedAccount+"/notifications:stream", feedKey)
	defer resp.Body.Close()
	rest, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || err != nil || len(rest) != 0 {
		t.Fatalf("end of stream: %d %q %v", resp.StatusCode, rest, err)
	}
}

func TestRefusedStreamIsAnHTTPErrorLikeAnyCall(t *testing.T) {
	gw, _ := streamGateway(t, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range []struct {
		name, account, key string
		code               int
	}{
		{"another account", "00000000-0000-4000-8000-0000000000bb", feedKey, http.StatusNotFound},
		{"no credential", feedAccount, "", http.StatusUnauthorized},
		{"the operator (members only)", feedAccount, operator, http.StatusForbidden},
	} {
		resp := openStream(t, ctx, gw.URL+"/v1/accounts/"+c.account+"/notifications:stream", c.key)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var st struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if resp.StatusCode != c.code || json.Unmarshal(body, &st) != nil || st.Code == 0 || st.Message == "" {
			t.Errorf("%s: %d %s, want %d in the API's error shape", c.name, resp.StatusCode, body, c.code)
		}
	}
}

func TestClosingTheGatewayEndsItsStreams(t *testing.T) {
	keys := testkit.Keyring(t)
	feed := &fakeFeed{push: make(chan *notificationv1.Notification)}
	g, err := gatewaysvc.New(context.Background(), gatewaysvc.Config{
		Log: slog.New(slog.DiscardHandler), Keys: keys, OperatorToken: operator, Upstreams: []gatewaysvc.Upstream{
			{Name: "org", Addr: serveFakeOrg(t, feedKey)}, {Name: "notification", Addr: serveNotification(t, keys, nil, feed),
				Routes: []platform.Route{notificationv1.RegisterNotificationServiceHandler}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := openStream(t, ctx, srv.URL+"/v1/accounts/"+feedAccount+"/notifications:stream", feedKey)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		done <- err
	}()
	g.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream stayed open after the gateway closed")
	}
}
