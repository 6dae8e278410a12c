package catalog_test

import (
	"testing"
	"testing/fstest"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/orgplane/orgplane/pkg/events/catalog"
)

func TestReadCommentsTakesTheLinesRightAboveEachDeclaration(t *testing.T) {
	t.Parallel()
	const src = `syntax = "proto3";

package acme.things.v1;

// A file comment, not the message's.

// ThingMade is published when a thing is made.
message ThingMade {
  option (orgplane.events.v1.event) = {
    entity: "thing"
    action: "made"
  };

  // Unique per event.
  string event_id = 1;
  repeated string tags = 2;
  // Inner holds
  // two lines.
  message Inner {
    // Its size.
    int32 size = 1;
  }
  oneof what {
    // A name.
    string name = 3;
  }
  map<string, int32> counts = 4;
}
`
	c, err := catalog.ReadComments(fstest.MapFS{"t.proto": {Data: []byte(src)}}, "t.proto")
	if err != nil {
		t.Fatal(err)
	}
	want := map[protoreflect.FullName]string{
		"acme.things.v1.ThingMade":            "ThingMade is published when a thing is made.",
		"acme.things.v1.ThingMade.event_id":   "Unique per event.",
		"acme.things.v1.ThingMade.tags":       "",
		"acme.things.v1.ThingMade.Inner":      "Inner holds two lines.",
		"acme.things.v1.ThingMade.Inner.size": "Its size.",
		"acme.things.v1.ThingMade.name":       "A name.",
		"acme.things.v1.ThingMade.counts":     "",
	}
	for name, w := range want {
		got, ok := c[name]
		if !ok || got != w {
			t.Errorf("comment of %s = %q (found %v), want %q", name, got, ok, w)
		}
	}
	if len(c) != len(want) {
		t.Errorf("read %d comments, want %d: %v", len(c), len(want), c)
	}
}
