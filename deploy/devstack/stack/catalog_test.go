package stack_test

import (
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/orgplane/orgplane/deploy/devstack/stack"
	"github.com/orgplane/orgplane/pkg/events/catalog"
)

// The catalog walks every registered proto file rather than the specs' lists, so an event
// message that no service produces still shows up (as produced by no service) and fails here.
func TestDocsCatalogEveryEvent(t *testing.T) {
	producers := map[protoreflect.FullName]string{}
	for _, s := range stack.Specs(nil) {
		for _, m := range s.Produces {
			name := m.ProtoReflect().Descriptor().FullName()
			if other, ok := producers[name]; ok {
				t.Fatalf("%s is produced by both %s and %s", name, other, s.Name)
			}
			producers[name] = s.Name
		}
	}
	evs, err := catalog.Collect(protoregistry.GlobalFiles, producers)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Fatal("found no event messages in the registry")
	}
	var paths []string
	for _, e := range evs {
		if e.Producer == "" {
			t.Errorf("%s is an event but no service's spec produces it", e.Kind.Type)
		}
		if p := e.Message.ParentFile().Path(); len(paths) == 0 || paths[len(paths)-1] != p {
			paths = append(paths, p)
		}
	}
	comments, err := catalog.ReadComments(os.DirFS("../../../proto"), paths...)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if comments[e.Kind.Type] == "" {
			t.Errorf("%s has no leading comment in its .proto saying when it is emitted", e.Kind.Type)
		}
	}
	want := catalog.Render(evs, comments)

	doc, err := os.ReadFile("../../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- catalog:begin -->\n", "<!-- catalog:end -->"
	_, rest, ok := strings.Cut(string(doc), begin)
	got, _, ok2 := strings.Cut(rest, end)
	if !ok || !ok2 {
		t.Fatalf("docs/events.md has no %q … %q section; it should hold:\n\n%s", strings.TrimSpace(begin), end, want)
	}
	if strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Fatalf("docs/events.md's event catalog differs from the events.proto files; between the markers it should read:\n\n%s", want)
	}
}
