package domain

import (
	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
)

// Sentinel errors. Not-found errors are also what a caller gets for something it may not see,
// so existence never leaks across tenants or groups.
var (
	ErrAccountNotFound      = identity.ErrAccountNotFound
	ErrOrganizationNotFound = apperr.NotFound("organization not found")
	ErrUserNotFound         = apperr.NotFound("user not found")
	ErrRoleNotFound         = apperr.NotFound("role not found")
	ErrAPIKeyNotFound       = apperr.NotFound("API key not found")
	ErrGroupNotFound        = apperr.NotFound("group not found")
	ErrReviewNotFound       = apperr.NotFound("review not found")
	ErrLogoNotFound         = apperr.NotFound("no logo set")
	ErrDuplicateName        = apperr.Conflict("an organization with this name already exists")
)
