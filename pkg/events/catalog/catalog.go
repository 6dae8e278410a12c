// Package catalog renders the event catalog of docs/events.md from the event messages
// themselves, so that the page lists exactly what the services publish: every message with the
// (orgplane.events.v1.event) option, its subject, stream, producer, payload and the .proto
// comments that say when it is emitted and what each field means.
package catalog

import (
	"bufio"
	"cmp"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/orgplane/orgplane/pkg/events"
	eventsv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/events/v1"
)

// Event is one event message and what the catalog says of it.
type Event struct {
	Message protoreflect.MessageDescriptor
	Kind    events.Kind
	// Producer is the service that writes it to its outbox; empty when none does.
	Producer string
}

// Files is the part of a registry (protoregistry.GlobalFiles) the catalog walks.
type Files interface {
	RangeFiles(func(protoreflect.FileDescriptor) bool)
}

// Collect finds every event message in files, ordered by file path and then as declared, so the
// catalog reads like the protos. producers names the producing service of each message type.
func Collect(files Files, producers map[protoreflect.FullName]string) ([]Event, error) {
	var fds []protoreflect.FileDescriptor
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		fds = append(fds, fd)
		return true
	})
	slices.SortFunc(fds, func(a, b protoreflect.FileDescriptor) int { return cmp.Compare(a.Path(), b.Path()) })
	var out []Event
	for _, fd := range fds {
		msgs := fd.Messages()
		for i := range msgs.Len() {
			d := msgs.Get(i)
			if !isEvent(d) {
				continue
			}
			k, err := events.KindOf(dynamicpb.NewMessage(d))
			if err != nil {
				return nil, err
			}
			out = append(out, Event{Message: d, Kind: k, Producer: producers[d.FullName()]})
		}
	}
	return out, nil
}

// isEvent tells an event message from any other, so that one with the option but a broken
// envelope is reported rather than left out.
func isEvent(d protoreflect.MessageDescriptor) bool {
	return proto.HasExtension(d.Options(), eventsv1.E_Event)
}

// Comments are the leading comments of messages and fields, by full name (a field's is
// <message>.<field>).
type Comments map[protoreflect.FullName]string

// Source locations are used when the descriptors carry them; protoc-gen-go strips them from the
// generated Go, hence the .proto files as a second source.
func (c Comments) of(d protoreflect.Descriptor) string {
	if loc := d.ParentFile().SourceLocations().ByDescriptor(d); loc.LeadingComments != "" {
		return oneLine(loc.LeadingComments)
	}
	return c[d.FullName()]
}

var (
	packageLine = regexp.MustCompile(`^package\s+([\w.]+)\s*;`)
	messageLine = regexp.MustCompile(`^message\s+(\w+)\s*\{`)
	fieldLine   = regexp.MustCompile(`^(?:repeated\s+|optional\s+)?(?:map\s*<[^>]*>|[\w.]+)\s+(\w+)\s*=\s*\d+`)
	oneofLine   = regexp.MustCompile(`^oneof\s+\w+\s*\{`)
)

// ReadComments reads the leading comments (the // lines right above a declaration) of the
// messages and fields in the given .proto files of fsys. It understands the plain layout buf
// format writes, which is all the events.proto files use.
func ReadComments(fsys fs.FS, paths ...string) (Comments, error) {
	c := Comments{}
	for _, p := range paths {
		f, err := fsys.Open(p)
		if err != nil {
			return nil, err
		}
		err = readComments(f, c)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return c, nil
}

func readComments(f fs.File, c Comments) error {
	var (
		pkg     string
		pending []string
		// scope holds, per open brace, the message whose fields it declares ("" for a block
		// that declares none: an option literal, an enum).
		scope []protoreflect.FullName
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "//"):
			pending = append(pending, strings.TrimSpace(strings.TrimPrefix(line, "//")))
			continue
		case line == "":
		case packageLine.MatchString(line):
			pkg = packageLine.FindStringSubmatch(line)[1]
		case messageLine.MatchString(line):
			parent := protoreflect.FullName(pkg)
			if len(scope) > 0 {
				parent = scope[len(scope)-1]
			}
			name := parent.Append(protoreflect.Name(messageLine.FindStringSubmatch(line)[1]))
			c[name] = strings.Join(pending, " ")
			scope = append(scope, name)
		case oneofLine.MatchString(line) && len(scope) > 0:
			scope = append(scope, scope[len(scope)-1])
		case strings.HasSuffix(line, "{"):
			scope = append(scope, "")
		case strings.HasPrefix(line, "}"):
			if len(scope) == 0 {
				return fmt.Errorf("unbalanced }")
			}
			scope = scope[:len(scope)-1]
		case fieldLine.MatchString(line) && len(scope) > 0 && scope[len(scope)-1] != "":
			name := scope[len(scope)-1].Append(protoreflect.Name(fieldLine.FindStringSubmatch(line)[1]))
			c[name] = strings.Join(pending, " ")
		}
		pending = nil
	}
	return sc.Err()
}

// Render writes the catalog as Markdown: a summary table, then each producer's events with
// their payload.
func Render(evs []Event, c Comments) string {
	var b strings.Builder
	b.WriteString("| subject | payload type | stream | producer |\n|---|---|---|---|\n")
	for _, e := range evs {
		fmt.Fprintf(&b, "| `%s` | [`%s`](#%s) | `%s` | %s |\n",
			subjectPattern(e.Kind), e.Kind.Type, anchor(e.Kind.Type), e.Kind.Stream.Name, producer(e))
	}
	var section string
	for _, e := range evs {
		if p := producer(e); p != section {
			section = p
			fmt.Fprintf(&b, "\n### %s\n\nStream `%s`, protos in `proto/%s`.\n", p, e.Kind.Stream.Name, e.Message.ParentFile().Path())
		}
		fmt.Fprintf(&b, "\n#### %s\n\n", e.Kind.Type)
		// The comment says when the event is emitted; most name the subject already.
		when := c.of(e.Message)
		if !strings.Contains(when, subjectPattern(e.Kind)) {
			fmt.Fprintf(&b, "Subject `%s`. ", subjectPattern(e.Kind))
		}
		b.WriteString(when)
		b.WriteString("\n\n| field | type | meaning |\n|---|---|---|\n")
		fields := e.Message.Fields()
		for i := range fields.Len() {
			f := fields.Get(i)
			fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", f.Name(), typeOf(f), cell(c.of(f)))
		}
	}
	return b.String()
}

func subjectPattern(k events.Kind) string {
	return k.Stream.Prefix + ".<account>." + k.Entity + "." + k.Action
}

func producer(e Event) string {
	if e.Producer == "" {
		return "no service"
	}
	return e.Producer
}

// anchor is the id GitHub gives the #### heading of the type's section.
func anchor(name protoreflect.FullName) string {
	return strings.ToLower(strings.ReplaceAll(string(name), ".", ""))
}

func typeOf(f protoreflect.FieldDescriptor) string {
	if f.IsMap() {
		return "map<" + kindName(f.MapKey()) + ", " + kindName(f.MapValue()) + ">"
	}
	if f.IsList() {
		return "repeated " + kindName(f)
	}
	return kindName(f)
}

func kindName(f protoreflect.FieldDescriptor) string {
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(f.Message().FullName())
	case protoreflect.EnumKind:
		return string(f.Enum().FullName())
	}
	return f.Kind().String()
}

// cell keeps a comment inside one Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
