package connectwise

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ConnectWise's `conditions` language, the part the simulator serves:
//
//	expr   := term { ("and"|"or") term }     (and binds tighter than or)
//	term   := "(" expr ")" | field op value
//	op     := = != < > <= >= contains like "not like" in "not in"
//	value  := "text" | 'text' | number | true | false | null | [2024-01-01T00:00:00Z] | (v, v, ...)
//
// String comparisons ignore case, as ConnectWise's SQL Server collation does; `like` takes `*`
// (and `%`) as wildcards.

// valueKind is the type a field holds, and the literal it must be compared with.
type valueKind int

const (
	kindNumber valueKind = iota
	kindString
	kindBool
	kindTime
)

func (k valueKind) String() string {
	return [...]string{"number", "string", "boolean", "datetime"}[k]
}

// value is a field's value or a literal; null is isNull.
type value struct {
	kind   valueKind
	isNull bool
	num    int64
	str    string
	b      bool
	t      time.Time
}

// fieldKind is the kind of a company field conditions and orderBy accept, by lower-case path.
func fieldKind(field string) (valueKind, bool) {
	switch field {
	case "id", "status/id", "parentcompany/id", "types/id":
		return kindNumber, true
	case "name", "identifier", "status/name", "types/name":
		return kindString, true
	case "deletedflag":
		return kindBool, true
	case "lastupdated", "_info/lastupdated", "dateentered", "_info/dateentered":
		return kindTime, true
	}
	return 0, false
}

// node is a parsed condition.
type node interface {
	eval(get func(field string) []value) bool
}

type logical struct {
	and         bool
	left, right node
}

func (l logical) eval(get func(string) []value) bool {
	if l.and {
		return l.left.eval(get) && l.right.eval(get)
	}
	return l.left.eval(get) || l.right.eval(get)
}

type comparison struct {
	field string
	op    string
	vals  []value // one, or several for in
	like  *regexp.Regexp
}

// eval is true when any of the field's values matches (types is a list).
func (c comparison) eval(get func(string) []value) bool {
	for _, fv := range get(c.field) {
		if c.match(fv) {
			return true
		}
	}
	return false
}

func (c comparison) match(fv value) bool {
	switch c.op {
	case "in", "not in":
		in := false
		for _, v := range c.vals {
			if compare(fv, v) == 0 {
				in = true
			}
		}
		return in == (c.op == "in")
	case "like", "not like":
		return !fv.isNull && c.like.MatchString(fv.str) == (c.op == "like")
	case "contains":
		return !fv.isNull && strings.Contains(strings.ToLower(fv.str), strings.ToLower(c.vals[0].str))
	}
	v := c.vals[0]
	if fv.isNull || v.isNull {
		both := fv.isNull && v.isNull
		switch c.op {
		case "=":
			return both
		case "!=":
			return !both
		}
		return false
	}
	d := compare(fv, v)
	switch c.op {
	case "=":
		return d == 0
	case "!=":
		return d != 0
	case "<":
		return d < 0
	case ">":
		return d > 0
	case "<=":
		return d <= 0
	case ">=":
		return d >= 0
	}
	return false
}

// compare orders two non-null values of the same kind.
func compare(a, b value) int {
	if a.isNull || b.isNull {
		if a.isNull && b.isNull {
			return 0
		}
		return 1
	}
	switch a.kind {
	case kindNumber:
		return cmpInt(a.num, b.num)
	case kindString:
		return strings.Compare(strings.ToLower(a.str), strings.ToLower(b.str))
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

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseConditions parses a conditions string; an empty one matches everything (nil).
func parseConditions(s string) (node, error) {
	p := &parser{src: s}
	p.skip()
	if p.pos == len(p.src) {
		return nil, nil
	}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.skip()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("unexpected %q at position %d", p.rest(10), p.pos)
	}
	return n, nil
}

type parser struct {
	src   string
	pos   int
	depth int
}

func (p *parser) rest(n int) string {
	r := p.src[p.pos:]
	if len(r) > n {
		r = r[:n]
	}
	return r
}

func (p *parser) skip() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
}

// keyword consumes kw (case-insensitive) when it stands as a whole word.
func (p *parser) keyword(kw string) bool {
	p.skip()
	end := p.pos + len(kw)
	if end > len(p.src) || !strings.EqualFold(p.src[p.pos:end], kw) {
		return false
	}
	if end < len(p.src) && isWordByte(p.src[end]) {
		return false
	}
	p.pos = end
	return true
}

func isWordByte(b byte) bool {
	return b == '_' || b == '/' || b == '.' || b == '-' || b == ':' ||
		(b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
}

func (p *parser) expr() (node, error) {
	left, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		right, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		left = logical{and: false, left: left, right: right}
	}
	return left, nil
}

func (p *parser) andExpr() (node, error) {
	left, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		right, err := p.term()
		if err != nil {
			return nil, err
		}
		left = logical{and: true, left: left, right: right}
	}
	return left, nil
}

func (p *parser) term() (node, error) {
	p.skip()
	if p.pos < len(p.src) && p.src[p.pos] == '(' {
		p.depth++
		if p.depth > 32 {
			return nil, fmt.Errorf("conditions nest too deeply")
		}
		p.pos++
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		p.skip()
		if p.pos >= len(p.src) || p.src[p.pos] != ')' {
			return nil, fmt.Errorf("missing ) at position %d", p.pos)
		}
		p.pos++
		p.depth--
		return n, nil
	}
	return p.comparison()
}

func (p *parser) comparison() (node, error) {
	p.skip()
	start := p.pos
	for p.pos < len(p.src) && isWordByte(p.src[p.pos]) {
		p.pos++
	}
	if start == p.pos {
		return nil, fmt.Errorf("expected a field name at position %d, found %q", start, p.rest(10))
	}
	field := strings.ToLower(p.src[start:p.pos])
	kind, ok := fieldKind(field)
	if !ok {
		return nil, fmt.Errorf("unknown field %q", p.src[start:p.pos])
	}
	op, err := p.operator()
	if err != nil {
		return nil, err
	}
	c := comparison{field: field, op: op}
	switch op {
	case "in", "not in":
		p.skip()
		if p.pos >= len(p.src) || p.src[p.pos] != '(' {
			return nil, fmt.Errorf("%s expects a list in parentheses after %s", field, op)
		}
		p.pos++
		for {
			v, err := p.literal(field, kind)
			if err != nil {
				return nil, err
			}
			c.vals = append(c.vals, v)
			p.skip()
			if p.pos < len(p.src) && p.src[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.pos < len(p.src) && p.src[p.pos] == ')' {
				p.pos++
				break
			}
			return nil, fmt.Errorf("expected , or ) in the list for %s", field)
		}
	default:
		v, err := p.literal(field, kind)
		if err != nil {
			return nil, err
		}
		c.vals = []value{v}
	}
	switch op {
	case "contains", "like", "not like":
		if kind != kindString || c.vals[0].isNull {
			return nil, fmt.Errorf("operator %s needs a string field and value (%s)", op, field)
		}
	case "<", ">", "<=", ">=":
		if kind == kindBool || c.vals[0].isNull {
			return nil, fmt.Errorf("operator %s cannot compare %s with that value", op, field)
		}
	}
	if op == "like" || op == "not like" {
		c.like = likePattern(c.vals[0].str)
	}
	return c, nil
}

func (p *parser) operator() (string, error) {
	p.skip()
	for _, op := range []string{"!=", "<=", ">=", "=", "<", ">"} {
		if strings.HasPrefix(p.src[p.pos:], op) {
			p.pos += len(op)
			return op, nil
		}
	}
	for _, kw := range []string{"contains", "like", "in"} {
		if p.keyword(kw) {
			return kw, nil
		}
	}
	if p.keyword("not") {
		for _, kw := range []string{"like", "in"} {
			if p.keyword(kw) {
				return "not " + kw, nil
			}
		}
	}
	return "", fmt.Errorf("expected an operator at position %d, found %q", p.pos, p.rest(10))
}

// literal reads one value and checks it suits the field's kind.
func (p *parser) literal(field string, kind valueKind) (value, error) {
	p.skip()
	if p.pos >= len(p.src) {
		return value{}, fmt.Errorf("missing value for %s", field)
	}
	switch ch := p.src[p.pos]; {
	case ch == '"' || ch == '\'':
		end := strings.IndexByte(p.src[p.pos+1:], ch)
		if end < 0 {
			return value{}, fmt.Errorf("unterminated string for %s", field)
		}
		s := p.src[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
		if kind != kindString {
			return value{}, fmt.Errorf("%s is a %s field and cannot be compared with a string", field, kind)
		}
		return value{kind: kindString, str: s}, nil
	case ch == '[':
		end := strings.IndexByte(p.src[p.pos:], ']')
		if end < 0 {
			return value{}, fmt.Errorf("unterminated datetime for %s", field)
		}
		raw := p.src[p.pos+1 : p.pos+end]
		p.pos += end + 1
		if kind != kindTime {
			return value{}, fmt.Errorf("%s is a %s field and cannot be compared with a datetime", field, kind)
		}
		t, err := parseTime(raw)
		if err != nil {
			return value{}, fmt.Errorf("bad datetime %q for %s", raw, field)
		}
		return value{kind: kindTime, t: t}, nil
	}
	start := p.pos
	for p.pos < len(p.src) && (isWordByte(p.src[p.pos]) || p.src[p.pos] == '+') {
		p.pos++
	}
	word := p.src[start:p.pos]
	switch strings.ToLower(word) {
	case "null":
		return value{kind: kind, isNull: true}, nil
	case "true", "false":
		if kind != kindBool {
			return value{}, fmt.Errorf("%s is a %s field and cannot be compared with %s", field, kind, word)
		}
		return value{kind: kindBool, b: strings.EqualFold(word, "true")}, nil
	}
	if n, err := strconv.ParseInt(word, 10, 64); err == nil {
		if kind != kindNumber {
			return value{}, fmt.Errorf("%s is a %s field and cannot be compared with a number", field, kind)
		}
		return value{kind: kindNumber, num: n}, nil
	}
	if word == "" {
		return value{}, fmt.Errorf("expected a value for %s at position %d, found %q", field, start, p.rest(10))
	}
	return value{}, fmt.Errorf("bad value %q for %s (strings are quoted, datetimes in [brackets])", word, field)
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad datetime %q", s)
}

// likePattern turns a like pattern into an anchored, case-insensitive regexp.
func likePattern(s string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?is)^")
	for _, r := range s {
		if r == '*' || r == '%' {
			b.WriteString(".*")
			continue
		}
		b.WriteString(regexp.QuoteMeta(string(r)))
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
