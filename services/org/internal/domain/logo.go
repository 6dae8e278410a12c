package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Logo is a stored logo (the account's, or an organization's) as served back.
type Logo struct {
	ContentType string
	Data        []byte
	// Width and Height are known when the logo is stored; reads that serve the bytes leave them 0.
	Width, Height int
	// SHA256 is the hex digest of Data computed when it was stored.
	SHA256  string
	Updated time.Time
}

// LogoInfo describes a logo just stored, without its bytes.
type LogoInfo struct {
	ContentType   string
	SizeBytes     int64
	Width, Height int
	SHA256        string
}

// Info describes l.
func (l Logo) Info() LogoInfo {
	return LogoInfo{ContentType: l.ContentType, SizeBytes: int64(len(l.Data)), Width: l.Width, Height: l.Height, SHA256: l.SHA256}
}

// ETag is a strong validator for a logo's bytes: the stored digest, or one computed from the
// bytes for a logo stored without it.
func (l Logo) ETag() string {
	if l.SHA256 != "" {
		return `"` + l.SHA256 + `"`
	}
	d := sha256.Sum256(l.Data)
	return `"` + hex.EncodeToString(d[:]) + `"`
}
