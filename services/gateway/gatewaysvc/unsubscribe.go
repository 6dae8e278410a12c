package gatewaysvc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	notificationv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/notification/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

// unsubscribeService verifies the tokens of the links in its emails and turns kinds off.
const unsubscribeService = "notification"

// maxUnsubscribeToken is the longest token the service accepts (UnsubscribeRequest.token).
const maxUnsubscribeToken = 1024

// maxUnsubscribeBody bounds a POST: a form with one token, or RFC 8058's one-click body.
const maxUnsubscribeBody = 8 << 10

// unsubscribeRate bounds each client address on the public pages: a person clicks once and a
// mail scanner fetches a link a few times, while someone trying tokens (or hammering the
// service behind) is slowed down.
var unsubscribeRate = RateLimit{PerSecond: 1, Burst: 20}

// pageStyle is the pages' only style; pageCSP admits exactly it by hash, and the form's POST to
// this origin, so the pages run no script and load nothing.
const pageStyle = `body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#1f2933}` +
	`h1{font-size:1.4rem}button{font-size:1rem;padding:.5rem 1.2rem;cursor:pointer}p.small{color:#616e7c;font-size:.9rem}`

var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}()

var unsubscribePages = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}} · Orgplane</title><style>{{.Style}}</style></head>
<body><main><h1>{{.Title}}</h1>
{{if .Token}}<p>You will stop receiving these emails from Orgplane. Other notifications, and other people's, are not affected.</p>
<form method="post" action="/unsubscribe"><input type="hidden" name="token" value="{{.Token}}"><button type="submit">Unsubscribe</button></form>
<p class="small">Nothing changes until you press the button.</p>
{{else}}<p>{{.Message}}</p>{{end}}
</main></body></html>
`))

type unsubscribePage struct {
	Title, Message, Token string
	Style                 template.CSS
}

// kindPhrases name each kind in the pages' words ("Stop emails about ...?").
var kindPhrases = map[notificationv1.NotificationKind]string{
	notificationv1.NotificationKind_NOTIFICATION_KIND_REVIEW_ASSIGNED:     "reviews assigned to you",
	notificationv1.NotificationKind_NOTIFICATION_KIND_REVIEW_REASSIGNED:   "your reviews being reassigned",
	notificationv1.NotificationKind_NOTIFICATION_KIND_OWNERSHIP_CHANGED:   "changes of a review's engineer or vCIO",
	notificationv1.NotificationKind_NOTIFICATION_KIND_REVIEW_CREATED:      "new reviews",
	notificationv1.NotificationKind_NOTIFICATION_KIND_REVIEW_REMINDER:     "reminders of reviews nobody has edited",
	notificationv1.NotificationKind_NOTIFICATION_KIND_INTEGRATION_TROUBLE: "integration trouble",
}

func kindPhrase(k notificationv1.NotificationKind) string {
	if p, ok := kindPhrases[k]; ok {
		return p
	}
	return "these notifications"
}

// unsubscribeForm serves GET /unsubscribe?token=...: the page the link in an email opens. It
// only asks: mail scanners and link previews fetch every link in a message, so a GET that
// unsubscribed would turn people's mail off behind their backs. The token is checked only when
// the form is sent; what it is about is said then.
func (g *Gateway) unsubscribeForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if token == "" || len(token) > maxUnsubscribeToken {
		writePage(w, http.StatusBadRequest, unsubscribePage{Title: "This link is not valid",
			Message: "Copy the whole link from the email, or change your notification preferences in Orgplane."})
		return
	}
	writePage(w, http.StatusOK, unsubscribePage{Title: "Stop these emails?", Token: token})
}

// unsubscribe serves POST /unsubscribe: the form above (field token), or a mail client's
// one-click unsubscribe (RFC 8058: body List-Unsubscribe=One-Click, the token in the URL it
// was given). The signed token is the only credential; the service checks it and turns that
// kind off for that user.
func (g *Gateway) unsubscribe(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUnsubscribeBody)
	// FormValue reads the body first, then the query (where a one-click POST carries it).
	token := r.FormValue("token")
	if token == "" || len(token) > maxUnsubscribeToken {
		writeInvalidLink(w)
		return
	}
	ctx, cancel := context.WithTimeout(identity.With(r.Context(), identity.Service("gateway")), 10*time.Second)
	defer cancel()
	resp, err := notificationv1.NewUnsubscribeServiceClient(g.conns[unsubscribeService]).Unsubscribe(ctx,
		&notificationv1.UnsubscribeRequest{Token: token})
	switch status.Code(err) {
	case codes.OK:
		phrase := kindPhrase(resp.GetKind())
		writePage(w, http.StatusOK, unsubscribePage{Title: "You are unsubscribed",
			Message: "You will no longer get emails about " + phrase + ". You can turn them back on in your notification preferences in Orgplane."})
	case codes.InvalidArgument, codes.Unauthenticated, codes.PermissionDenied, codes.NotFound:
		// Whatever the service found wrong (a changed character, another deployment's key, a
		// user since deleted), the person learns only that the link does not work.
		writeInvalidLink(w)
	default:
		if !strings.Contains(err.Error(), "context canceled") {
			g.cfg.Log.Warn("unsubscribe failed", "code", status.Code(err).String())
		}
		w.Header().Set("Retry-After", "30")
		writePage(w, http.StatusServiceUnavailable, unsubscribePage{Title: "Please try again",
			Message: "Orgplane could not unsubscribe you just now. Nothing was changed; try the link again in a minute."})
	}
}

func writeInvalidLink(w http.ResponseWriter) {
	writePage(w, http.StatusBadRequest, unsubscribePage{Title: "This link is not valid",
		Message: "It may have been cut short or changed. Copy the whole link from the email, or change your notification preferences in Orgplane."})
}

func writePage(w http.ResponseWriter, code int, p unsubscribePage) {
	p.Style = template.CSS(pageStyle)
	var b bytes.Buffer
	if err := unsubscribePages.Execute(&b, p); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	// The token is in the page's URL: it must not travel on in a Referer, nor stay in a cache.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// limitPerAddress applies unsubscribeRate to each client address (behind a trusted proxy, the
// address it forwarded), answering a plain page, since people read these answers.
func (g *Gateway) limitPerAddress(next http.HandlerFunc) http.Handler {
	l := newLimiter(unsubscribeRate)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, _ := l.allow(g.failures.clientAddress(r), time.Now()); !ok {
			w.Header().Set("Retry-After", "5")
			writePage(w, http.StatusTooManyRequests, unsubscribePage{Title: "Please try again",
				Message: "Too many requests from your network just now; try the link again in a moment."})
			return
		}
		next(w, r)
	})
}
