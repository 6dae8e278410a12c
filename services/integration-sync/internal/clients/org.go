// Package clients adapts other services' generated clients to the interfaces integration-sync's
// use cases declare.
package clients

import (
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"

	"github.com/orgplane/orgplane/pkg/accountstate"
)

// NewAccounts is org's LicenseService as app.Accounts: whether an account may change anything.
func NewAccounts(c orgv1.LicenseServiceClient) accountstate.Checker {
	return accountstate.Checker{Client: c, Self: "integration-sync"}
}
