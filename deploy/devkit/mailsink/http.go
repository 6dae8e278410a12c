package mailsink

import (
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strconv"
)

// Handler serves a small web inbox: "/" lists the messages newest first, "/messages/{id}" shows
// one (its HTML body sandboxed in an iframe, its text and headers), "/messages/{id}/html" the HTML
// body alone, and "/api/messages" returns them all as JSON, newest first.
func (s *Sink) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = inboxPage.Execute(w, newestFirst(s.Messages()))
	})
	mux.HandleFunc("GET /api/messages", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(newestFirst(s.Messages()))
	})
	mux.HandleFunc("GET /messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		m, ok := s.lookup(r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = messagePage.Execute(w, m)
	})
	mux.HandleFunc("GET /messages/{id}/html", func(w http.ResponseWriter, r *http.Request) {
		m, ok := s.lookup(r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		// The body is whatever a sender wrote: no scripts, no same-origin access to the inbox.
		w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(m.HTML))
	})
	return mux
}

func (s *Sink) lookup(r *http.Request) (Message, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return Message{}, false
	}
	return s.message(id)
}

func newestFirst(ms []Message) []Message {
	slices.Reverse(ms)
	return ms
}

var inboxPage = template.Must(template.New("inbox").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Mail sink ({{len .}})</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em}
table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.4em .8em;border-bottom:1px solid #ddd}
</style></head>
<body><h1>Mail sink</h1>
<p>{{len .}} message(s), newest first. <a href="api/messages">JSON</a></p>
<table><tr><th>Received</th><th>To</th><th>Subject</th></tr>
{{range .}}<tr><td>{{.Received.Format "2006-01-02 15:04:05"}}</td><td>{{range $i, $t := .To}}{{if $i}}, {{end}}{{$t}}{{end}}</td><td><a href="messages/{{.ID}}">{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a></td></tr>
{{else}}<tr><td colspan="3">Nothing yet.</td></tr>{{end}}
</table></body></html>
`))

var messagePage = template.Must(template.New("message").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em}
pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}
iframe{width:100%;height:30em;border:1px solid #ddd}
</style></head>
<body><p><a href="../">Inbox</a></p>
<h1>{{.Subject}}</h1>
<p>From {{.From}} to {{range $i, $t := .To}}{{if $i}}, {{end}}{{$t}}{{end}}, received {{.Received.Format "2006-01-02 15:04:05"}}</p>
{{if .HTML}}<h2>HTML</h2><iframe sandbox src="{{.ID}}/html"></iframe>{{end}}
{{if .Text}}<h2>Text</h2><pre>{{.Text}}</pre>{{end}}
<h2>Headers</h2><pre>{{range $k, $v := .Header}}{{range $v}}{{$k}}: {{.}}
{{end}}{{end}}</pre>
</body></html>
`))
