package autotask

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

// condition is one item of a query's filter: a comparison on a field, or "and"/"or" over items.
type condition struct {
	Op    string          `json:"op"`
	Field string          `json:"field,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
	UDF   bool            `json:"udf,omitempty"`
	Items []condition     `json:"items,omitempty"`
}

type kind int

const (
	kindInt kind = iota
	kindString
	kindBool
	kindTime
)

// queryable lists the Company fields a filter may name, with their types.
func queryable() []struct {
	name string
	k    kind
} {
	return []struct {
		name string
		k    kind
	}{
		{"id", kindInt}, {"companyName", kindString}, {"companyType", kindInt}, {"isActive", kindBool},
		{"parentCompanyID", kindInt}, {"ownerResourceID", kindInt}, {"lastTrackedModifiedDateTime", kindTime},
		{"createDate", kindTime},
	}
}

// fieldName resolves a field name case-insensitively, as Autotask does.
func fieldName(f string) (string, bool) {
	name, _, ok := field(f)
	return name, ok
}

func field(f string) (string, kind, bool) {
	for _, q := range queryable() {
		if strings.EqualFold(q.name, f) {
			return q.name, q.k, true
		}
	}
	return "", 0, false
}

// value is one field's value on a company, or a filter's operand.
type value struct {
	null bool
	k    kind
	i    int64
	s    string
	b    bool
	t    time.Time
}

func fieldValue(c simkit.Company, name string) value {
	switch name {
	case "id":
		return value{k: kindInt, i: c.ID}
	case "companyName":
		return value{k: kindString, s: c.Name}
	case "companyType":
		return value{k: kindInt, i: c.TypeID}
	case "isActive":
		return value{k: kindBool, b: c.Active}
	case "parentCompanyID":
		return value{k: kindInt, i: c.ParentID, null: c.ParentID == 0}
	case "ownerResourceID":
		return value{k: kindInt, i: defaultOwnerID}
	case "lastTrackedModifiedDateTime":
		return value{k: kindTime, t: c.UpdatedAt.Truncate(time.Millisecond)}
	case "createDate":
		return value{k: kindTime, t: c.CreatedAt.Truncate(time.Millisecond)}
	}
	return value{null: true}
}

func (v value) text() string {
	switch v.k {
	case kindInt:
		return strconv.FormatInt(v.i, 10)
	case kindBool:
		return strconv.FormatBool(v.b)
	case kindTime:
		return v.t.Format(TimeFormat)
	}
	return v.s
}

// cmp orders a against b of the same kind; strings compare case-insensitively, as Autotask's
// database collation does.
func cmp(a, b value) int {
	switch a.k {
	case kindInt:
		return compareOrdered(a.i, b.i)
	case kindString:
		return strings.Compare(strings.ToLower(a.s), strings.ToLower(b.s))
	case kindBool:
		if a.b == b.b {
			return 0
		}
		if !a.b {
			return -1
		}
		return 1
	case kindTime:
		return a.t.Compare(b.t)
	}
	return 0
}

func compareOrdered(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// operand reads raw as a value of kind k.
func operand(raw json.RawMessage, k kind, field string) (value, error) {
	bad := fmt.Errorf("The value %s is not valid for field %s.", string(raw), field)
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return value{null: true, k: k}, nil
	}
	var text string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return value{}, bad
		}
	} else {
		text = string(raw)
	}
	switch k {
	case kindInt:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return value{}, bad
		}
		return value{k: k, i: int64(f)}, nil
	case kindBool:
		switch strings.ToLower(text) {
		case "true", "1":
			return value{k: k, b: true}, nil
		case "false", "0":
			return value{k: k}, nil
		}
		return value{}, bad
	case kindTime:
		t, ok := parseTime(text)
		if !ok {
			return value{}, bad
		}
		return value{k: k, t: t}, nil
	}
	return value{k: k, s: text}, nil
}

type predicate func(simkit.Company) bool

// compile turns a filter (its items ANDed) into a predicate. A field Autotask does not know is
// an error; an operator it does not know is dropped from the filter, as Autotask does.
func compile(items []condition) (predicate, error) {
	preds := make([]predicate, 0, len(items))
	for _, it := range items {
		p, err := compileOne(it)
		if err != nil {
			return nil, err
		}
		if p != nil {
			preds = append(preds, p)
		}
	}
	return func(c simkit.Company) bool {
		for _, p := range preds {
			if !p(c) {
				return false
			}
		}
		return true
	}, nil
}

func compileOne(it condition) (predicate, error) {
	op := strings.ToLower(it.Op)
	switch op {
	case "and":
		return compile(it.Items)
	case "or":
		preds := make([]predicate, 0, len(it.Items))
		for _, sub := range it.Items {
			p, err := compileOne(sub)
			if err != nil {
				return nil, err
			}
			if p != nil {
				preds = append(preds, p)
			}
		}
		if len(preds) == 0 {
			return nil, nil
		}
		return func(c simkit.Company) bool {
			for _, p := range preds {
				if p(c) {
					return true
				}
			}
			return false
		}, nil
	}
	if it.UDF {
		return nil, fmt.Errorf("Unable to find user-defined field %s in the Company Entity.", it.Field)
	}
	name, k, ok := field(it.Field)
	if !ok {
		return nil, fmt.Errorf("Unable to find %s in the Company Entity.", it.Field)
	}
	get := func(c simkit.Company) value { return fieldValue(c, name) }
	switch op {
	case "exist":
		return func(c simkit.Company) bool { return !get(c).null }, nil
	case "notexist":
		return func(c simkit.Company) bool { return get(c).null }, nil
	case "in", "notin":
		var raws []json.RawMessage
		if err := json.Unmarshal(it.Value, &raws); err != nil {
			return nil, fmt.Errorf("The value for %s must be a list.", it.Op)
		}
		set := make([]value, 0, len(raws))
		for _, raw := range raws {
			v, err := operand(raw, k, name)
			if err != nil {
				return nil, err
			}
			set = append(set, v)
		}
		want := op == "in"
		return func(c simkit.Company) bool {
			fv := get(c)
			if fv.null {
				return false
			}
			for _, v := range set {
				if !v.null && cmp(fv, v) == 0 {
					return want
				}
			}
			return !want
		}, nil
	}
	if op == "beginswith" || op == "endswith" || op == "contains" {
		want := strings.ToLower(operandText(it.Value))
		return func(c simkit.Company) bool {
			fv := get(c)
			return !fv.null && textMatch(op, strings.ToLower(fv.text()), want)
		}, nil
	}
	test := comparison(op)
	if test == nil {
		return nil, nil
	}
	v, err := operand(it.Value, k, name)
	if err != nil {
		return nil, err
	}
	return func(c simkit.Company) bool {
		fv := get(c)
		if fv.null || v.null {
			return false
		}
		return test(fv, v)
	}, nil
}

func operandText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

func textMatch(op, s, want string) bool {
	switch op {
	case "beginswith":
		return strings.HasPrefix(s, want)
	case "endswith":
		return strings.HasSuffix(s, want)
	}
	return strings.Contains(s, want)
}

// comparison is the test an ordering operator makes, nil for an operator Autotask does not know.
func comparison(op string) func(field, v value) bool {
	switch op {
	case "eq":
		return func(f, v value) bool { return cmp(f, v) == 0 }
	case "noteq":
		return func(f, v value) bool { return cmp(f, v) != 0 }
	case "gt":
		return func(f, v value) bool { return cmp(f, v) > 0 }
	case "gte":
		return func(f, v value) bool { return cmp(f, v) >= 0 }
	case "lt":
		return func(f, v value) bool { return cmp(f, v) < 0 }
	case "lte":
		return func(f, v value) bool { return cmp(f, v) <= 0 }
	}
	return nil
}
