// Package render turns what a notification says into its email (subject, plain text, HTML) and
// its in-app entry (title, summary), from templates embedded in the binary.
package render

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	"github.com/orgplane/orgplane/services/notification/internal/domain"
)

//go:embed templates/*.tmpl
var files embed.FS

// Data is what a notification says, already in the recipient's words: names resolved, dates in
// the account's zone and format.
type Data struct {
	Kind             domain.Kind
	RecipientName    string
	AccountName      string
	ReviewTitle      string
	OrganizationName string
	// Role is the assignment concerned: "engineer" or "vCIO".
	Role             string
	DueDate          string
	At               string
	NewAssignee      string
	PreviousAssignee string
	ChangedBy        string
	Engineer         string
	EngineerDue      string
	VCIO             string
	VCIODue          string
	QuietDays        int
	LastEdited       string
	Trouble          []TroubleLine
	TroubleTotal     int
	Since            string
	ReviewURL        string
	IntegrationsURL  string
	// UnsubscribeURL turns this kind off for the recipient; empty for a plain address.
	UnsubscribeURL string
	// LinkURL is a sign-in email's link, with its single-use token: rendered at send time and
	// never stored. Expires is when it stops working, in the account's zone and format.
	LinkURL string
	Expires string
}

// TroubleLine is one kind of integration trouble in a digest.
type TroubleLine struct {
	What     string
	Count    int
	Examples []string
	More     int
}

// Email is a rendered email.
type Email struct {
	Subject string
	Text    string
	HTML    string
}

// Entry is a rendered in-app notification.
type Entry struct {
	Title string
	Body  string
}

// Renderer holds the parsed templates.
type Renderer struct {
	text *texttemplate.Template
	html map[domain.Kind]*htmltemplate.Template
}

// New parses the templates; a template that does not parse is a programming error.
func New() *Renderer {
	r := &Renderer{
		text: texttemplate.Must(texttemplate.New("mail").Option("missingkey=error").ParseFS(files, "templates/mail.txt.tmpl")),
		html: map[domain.Kind]*htmltemplate.Template{},
	}
	base := htmltemplate.Must(htmltemplate.New("mail").ParseFS(files, "templates/mail.html.tmpl"))
	for _, k := range domain.AllKinds() {
		t := htmltemplate.Must(base.Clone())
		defs := `{{define "content"}}{{template "html_` + k.Name() + `" .}}{{end}}`
		names := []string{"subject_", "summary_", "text_"}
		if k.Transactional() {
			// A sign-in email says why it came in its own words (nobody's preferences sent it) and
			// is never an in-app entry.
			defs += `{{define "why"}}{{template "why_` + k.Name() + `" .}}{{end}}`
			names = []string{"subject_", "text_"}
		}
		htmltemplate.Must(t.Parse(defs))
		r.html[k] = t
		for _, name := range names {
			if r.text.Lookup(name+k.Name()) == nil {
				panic("render: no template " + name + k.Name())
			}
		}
	}
	return r
}

// Subject renders d's subject alone: what the record of a sign-in email shows before its link
// exists.
func (r *Renderer) Subject(d Data) (string, error) {
	subject, err := r.exec("subject_", d)
	if err != nil {
		return "", err
	}
	return oneLine(subject), nil
}

// Email renders d's email.
func (r *Renderer) Email(d Data) (Email, error) {
	subject, err := r.exec("subject_", d)
	if err != nil {
		return Email{}, err
	}
	subject = oneLine(subject)
	text, err := r.exec("text_", d)
	if err != nil {
		return Email{}, err
	}
	t, ok := r.html[d.Kind]
	if !ok {
		return Email{}, fmt.Errorf("render: no HTML template for kind %d", d.Kind)
	}
	var html bytes.Buffer
	if err := t.ExecuteTemplate(&html, "layout", struct {
		Data
		Subject string
	}{d, subject}); err != nil {
		return Email{}, fmt.Errorf("render %s HTML: %w", d.Kind.Name(), err)
	}
	return Email{Subject: subject, Text: strings.TrimLeft(text, "\n"), HTML: html.String()}, nil
}

// Entry renders d's in-app entry.
func (r *Renderer) Entry(d Data) (Entry, error) {
	title, err := r.exec("subject_", d)
	if err != nil {
		return Entry{}, err
	}
	body, err := r.exec("summary_", d)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Title: oneLine(title), Body: strings.TrimSpace(body)}, nil
}

func (r *Renderer) exec(prefix string, d Data) (string, error) {
	var b bytes.Buffer
	if err := r.text.ExecuteTemplate(&b, prefix+d.Kind.Name(), d); err != nil {
		return "", fmt.Errorf("render %s%s: %w", prefix, d.Kind.Name(), err)
	}
	return b.String(), nil
}

// oneLine keeps a header value on one line whatever a title held.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
