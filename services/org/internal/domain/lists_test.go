package domain_test

import (
	"testing"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

func TestNewGroup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   domain.Group
		want domain.Group
		err  bool
	}{
		{name: "default color", in: domain.Group{Name: "East"}, want: domain.Group{Name: "East", Color: domain.DefaultGroupColor}},
		{name: "own color, archived", in: domain.Group{Name: "Old", Color: "#FF0000", Archived: true},
			want: domain.Group{Name: "Old", Color: "#FF0000", Archived: true}},
		{name: "no name", in: domain.Group{Color: "#FF0000"}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := domain.NewGroup(tc.in)
			if tc.err {
				wantErr(t, err, apperr.KindInvalid, "group.name", "is required")
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v %v, want %+v", got, err, tc.want)
			}
		})
	}
}

func TestGroupApplyChangesOnlyTheMaskedFields(t *testing.T) {
	t.Parallel()
	cur := domain.Group{ID: "g", Name: "East", Color: "#111111"}
	in := domain.Group{ID: "g", Name: "West", Color: "#222222", Archived: true}
	for _, tc := range []struct {
		name       string
		paths      []string
		in         domain.Group
		want       domain.Group
		field, msg string
	}{
		{name: "name", paths: []string{"name"}, in: in, want: domain.Group{ID: "g", Name: "West", Color: "#111111"}},
		{name: "color and archived", paths: []string{"color", "archived"}, in: in,
			want: domain.Group{ID: "g", Name: "East", Color: "#222222", Archived: true}},
		{name: "empty name", paths: []string{"color", "name"}, in: domain.Group{Color: "#333333"}, field: "group.name", msg: "is required"},
		{name: "empty color", paths: []string{"color"}, in: domain.Group{Name: "X"}, field: "group.color", msg: "is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := cur.Apply(tc.paths, tc.in)
			if tc.msg != "" {
				wantErr(t, err, apperr.KindInvalid, tc.field, tc.msg)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v %v, want %+v", got, err, tc.want)
			}
		})
	}
}
