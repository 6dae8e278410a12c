package pbconv

import (
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// LogoInfo describes a stored logo (account or organization) to the caller that stored it.
func LogoInfo(l domain.LogoInfo) *orgv1.LogoInfo {
	return &orgv1.LogoInfo{ContentType: l.ContentType, SizeBytes: l.SizeBytes, Width: int32(l.Width),
		Height: int32(l.Height), Sha256: l.SHA256}
}
