package oidcdev

import (
	"context"
	"errors"
	"html/template"
	"net/http"
)

// signInPath is the sign-in page; the library sends the browser there with the authorization
// request's id (client.LoginURL), and the page sends it on to the library's callback once the
// person has signed in.
const signInPath = "/login"

// signInPage is the provider's own sign-in UI: email and password, nothing else.
type signInPage struct {
	store    *storage
	callback func(ctx context.Context, requestID string) string
}

var signInTemplate = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in – Orgplane development identity provider</title>
</head>
<body>
<main>
<h1>Sign in</h1>
<p>Orgplane's development identity provider. Sign in with a seeded person's email and password.</p>
{{if .Error}}<p role="alert" id="sign-in-error">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="id" value="{{.ID}}">
<p><label for="email">Email</label><br>
<input id="email" name="email" type="email" autocomplete="username" required value="{{.Email}}"{{if .Error}} aria-describedby="sign-in-error" aria-invalid="true"{{end}}></p>
<p><label for="password">Password</label><br>
<input id="password" name="password" type="password" autocomplete="current-password" required{{if .Error}} aria-describedby="sign-in-error" aria-invalid="true"{{end}}></p>
<p><button type="submit">Sign in</button></p>
</form>
</main>
</body>
</html>
`))

type signInView struct {
	Action, ID, Email, Error string
}

func (p *signInPage) show(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	req, ok := p.store.pending(id)
	if !ok {
		expired(w)
		return
	}
	render(w, http.StatusOK, signInView{Action: signInPath, ID: id, Email: req.loginHint})
}

func (p *signInPage) submit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The sign-in form could not be read.", http.StatusBadRequest)
		return
	}
	id, email := r.PostForm.Get("id"), r.PostForm.Get("email")
	switch err := p.store.signIn(id, email, r.PostForm.Get("password")); {
	case errors.Is(err, errNotFound):
		expired(w)
	case err != nil:
		// The form again, with the email kept and no redirect: nothing reaches the client.
		render(w, http.StatusOK, signInView{Action: signInPath, ID: id, Email: email,
			Error: "Wrong email or password."})
	default:
		http.Redirect(w, r, p.callback(r.Context(), id), http.StatusSeeOther)
	}
}

func expired(w http.ResponseWriter) {
	http.Error(w, "This sign-in is unknown or has expired; start again from the application.", http.StatusBadRequest)
}

func render(w http.ResponseWriter, status int, v signInView) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	// No form-action: the form's answer redirects on to the client, which browsers check
	// against form-action too.
	h.Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(status)
	_ = signInTemplate.Execute(w, v)
}
