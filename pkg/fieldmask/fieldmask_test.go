package fieldmask_test

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/fieldmask"
)

func TestPaths(t *testing.T) {
	t.Parallel()
	allowed := []string{"name", "type_id", "group_ids"}
	for _, tc := range []struct {
		paths   []string
		want    []string
		wantErr bool
	}{
		{paths: []string{"*"}, want: allowed},
		{paths: []string{"name"}, want: []string{"name"}},
		{paths: []string{"typeId", "groupIds"}, want: []string{"type_id", "group_ids"}},
		{paths: nil, wantErr: true},
		{paths: []string{"notes"}, wantErr: true},
		{paths: []string{"name", "accountId"}, wantErr: true},
	} {
		got, err := fieldmask.Paths(&fieldmaskpb.FieldMask{Paths: tc.paths}, "update_mask", allowed...)
		if tc.wantErr {
			ae, ok := apperr.As(err)
			if !ok || ae.Field != "update_mask" {
				t.Errorf("%v: got %v, %v; want an invalid-argument error on update_mask", tc.paths, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%v: got %v, %v; want %v", tc.paths, got, err, tc.want)
		}
	}
}

func TestCamelCaseIsTheInverseOfSnakeCase(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"name", "parent_id", "default_vcio_id", "api_keys"} {
		if got := fieldmask.SnakeCase(fieldmask.CamelCase(name)); got != name {
			t.Errorf("SnakeCase(CamelCase(%q)) = %q", name, got)
		}
	}
	if got := fieldmask.CamelCase("due_date"); got != "dueDate" {
		t.Errorf("CamelCase(due_date) = %q, want dueDate", got)
	}
}
