package pbconv

import (
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// SyncUpdate is the change a PSA sync asks for: the optional fields it set.
func SyncUpdate(req *orgv1.UpdateSyncedOrganizationRequest) domain.SyncUpdate {
	return domain.SyncUpdate{Name: req.Name, TypeID: req.TypeId, StatusID: req.StatusId, Active: req.Active}
}
