package oapiclient

import (
	"bytes"
	"fmt"
	"strconv"
)

// Int64 is a 64-bit integer as protojson carries it: a decimal string, since a JSON number loses
// precision above 2^53 in many decoders. It reads a bare number too, as protojson does.
type Int64 int64

// MarshalJSON writes the decimal string protojson expects.
func (n Int64) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, strconv.FormatInt(int64(n), 10)), nil
}

// UnmarshalJSON reads "123" or 123.
func (n *Int64) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	digits := bytes.TrimSuffix(bytes.TrimPrefix(b, []byte(`"`)), []byte(`"`))
	v, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return fmt.Errorf("a 64-bit integer must be a decimal string, not %s", b)
	}
	*n = Int64(v)
	return nil
}
