package pbconv

import (
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// LicenseLimit is the limit a SetLicenseLimit request asks for.
func LicenseLimit(req *orgv1.SetLicenseLimitRequest) domain.LicenseLimit {
	return domain.LicenseLimit{
		Unlimited:  req.GetUnlimited(),
		Limit:      req.GetOrganizationLimit(),
		Writable:   req.GetWritable(),
		Generation: req.GetGeneration(),
	}
}

// LicenseUsage is an account's enforced limit and use as billing sees it.
func LicenseUsage(u domain.LicenseUsage) *orgv1.LicenseUsage {
	out := &orgv1.LicenseUsage{Unlimited: u.Unlimited, Used: u.Used, Writable: u.Writable, Generation: u.Generation}
	if !u.Unlimited {
		out.OrganizationLimit = u.Limit
	}
	return out
}
