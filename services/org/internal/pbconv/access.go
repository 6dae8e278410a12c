package pbconv

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// User is a user as the API (and UserCreated, UserUpdated) shows it.
func User(u domain.User) *orgv1.User {
	return &orgv1.User{
		Id:               u.ID,
		FirstName:        u.FirstName,
		LastName:         u.LastName,
		Email:            u.Email,
		RoleId:           u.RoleID,
		Active:           u.Active,
		AllOrganizations: u.AllOrganizations,
		GroupIds:         u.GroupIDs,
		EmailPreferences: &orgv1.EmailPreferences{
			ReviewAssigned: u.EmailPreferences.ReviewAssigned,
			ReviewCreated:  u.EmailPreferences.ReviewCreated,
		},
		CreateTime: timestamppb.New(u.Created),
		UpdateTime: timestamppb.New(u.Updated),
	}
}

// Users converts a list of users.
func Users(us []domain.User) []*orgv1.User {
	out := make([]*orgv1.User, len(us))
	for i, u := range us {
		out[i] = User(u)
	}
	return out
}

// NewUser reads a user to add from a request.
func NewUser(u *orgv1.User) domain.NewUser {
	n := domain.NewUser{
		FirstName:        u.GetFirstName(),
		LastName:         u.GetLastName(),
		Email:            u.GetEmail(),
		RoleID:           u.GetRoleId(),
		AllOrganizations: u.GetAllOrganizations(),
		GroupIDs:         u.GetGroupIds(),
	}
	if p := u.GetEmailPreferences(); p != nil {
		n.EmailPreferences = &domain.EmailPreferences{ReviewAssigned: p.GetReviewAssigned(), ReviewCreated: p.GetReviewCreated()}
	}
	return n
}

// UserChange reads the new values of an update from a request.
func UserChange(u *orgv1.User) domain.UserChange {
	return domain.UserChange{
		ID:               u.GetId(),
		FirstName:        u.GetFirstName(),
		LastName:         u.GetLastName(),
		Email:            u.GetEmail(),
		RoleID:           u.GetRoleId(),
		AllOrganizations: u.GetAllOrganizations(),
		GroupIDs:         u.GetGroupIds(),
		EmailPreferences: domain.EmailPreferences{
			ReviewAssigned: u.GetEmailPreferences().GetReviewAssigned(),
			ReviewCreated:  u.GetEmailPreferences().GetReviewCreated(),
		},
		SetActive: u.GetSetActive(),
	}
}

// Levels reads a role's permissions; every area is present, unset ones at
// domain.LevelUnspecified, which is how roles have always been stored.
func Levels(p *orgv1.Permissions) domain.Levels {
	return domain.Levels{
		domain.AreaOrganizations:   domain.Level(p.GetOrganizations()),
		domain.AreaReviews:         domain.Level(p.GetReviews()),
		domain.AreaUsers:           domain.Level(p.GetUsers()),
		domain.AreaRoles:           domain.Level(p.GetRoles()),
		domain.AreaAccountSettings: domain.Level(p.GetAccountSettings()),
		domain.AreaIntegrations:    domain.Level(p.GetIntegrations()),
		domain.AreaMappings:        domain.Level(p.GetMappings()),
		domain.AreaSubscription:    domain.Level(p.GetSubscription()),
		domain.AreaAPIKeys:         domain.Level(p.GetApiKeys()),
		domain.AreaGroups:          domain.Level(p.GetGroups()),
		domain.AreaNotifications:   domain.Level(p.GetNotifications()),
	}
}

// Permissions shows levels as the API does: an unset area is NONE.
func Permissions(l domain.Levels) *orgv1.Permissions {
	get := func(area string) orgv1.PermissionLevel { return orgv1.PermissionLevel(l.Of(area)) }
	return &orgv1.Permissions{
		Organizations:   get(domain.AreaOrganizations),
		Reviews:         get(domain.AreaReviews),
		Users:           get(domain.AreaUsers),
		Roles:           get(domain.AreaRoles),
		AccountSettings: get(domain.AreaAccountSettings),
		Integrations:    get(domain.AreaIntegrations),
		Mappings:        get(domain.AreaMappings),
		Subscription:    get(domain.AreaSubscription),
		ApiKeys:         get(domain.AreaAPIKeys),
		Groups:          get(domain.AreaGroups),
		Notifications:   get(domain.AreaNotifications),
	}
}

// Role is a role as the API shows it.
func Role(r domain.Role) *orgv1.Role {
	return &orgv1.Role{Id: r.ID, Name: r.Name, Builtin: orgv1.BuiltinRole(r.Builtin), Permissions: Permissions(r.Levels)}
}

// Roles converts a list of roles.
func Roles(rs []domain.Role) []*orgv1.Role {
	out := make([]*orgv1.Role, len(rs))
	for i, r := range rs {
		out[i] = Role(r)
	}
	return out
}

// RoleFromProto reads a role from a request (its id, name and permissions).
func RoleFromProto(r *orgv1.Role) domain.Role {
	return domain.Role{ID: r.GetId(), Name: r.GetName(), Levels: Levels(r.GetPermissions())}
}

// APIKey is a key's description as the API shows it (never its secret).
func APIKey(k domain.APIKey) *orgv1.ApiKey {
	return &orgv1.ApiKey{
		Id:          k.ID,
		Name:        k.Name,
		Prefix:      k.Prefix,
		RoleId:      k.RoleID,
		UserId:      k.UserID,
		CreateTime:  timestamppb.New(k.Created),
		LastUseTime: apiKeyTime(k.LastUsed),
		RevokeTime:  apiKeyTime(k.Revoked),
	}
}

// APIKeys converts a list of keys.
func APIKeys(ks []domain.APIKey) []*orgv1.ApiKey {
	out := make([]*orgv1.ApiKey, len(ks))
	for i, k := range ks {
		out[i] = APIKey(k)
	}
	return out
}

// APIKeyFromProto reads a key to create from a request.
func APIKeyFromProto(k *orgv1.ApiKey) domain.APIKey {
	return domain.APIKey{Name: k.GetName(), RoleID: k.GetRoleId(), UserID: k.GetUserId()}
}

// KeyIdentity is the identity a key grants, as the gateway receives it.
func KeyIdentity(id domain.KeyIdentity) *orgv1.AuthenticateApiKeyResponse {
	return &orgv1.AuthenticateApiKeyResponse{
		AccountId:          id.AccountID,
		ApiKeyId:           id.APIKeyID,
		UserId:             id.UserID,
		Permissions:        id.Permissions,
		RestrictedToGroups: id.RestrictedToGroups,
		GroupIds:           id.GroupIDs,
	}
}

// apiKeyTime leaves a time a key has not reached yet (zero) unset.
func apiKeyTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
