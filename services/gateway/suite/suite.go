// Package suite names the services of Orgplane, in one place: the gateway fronts them (learning
// each one's REST routes from its spec) and the dev stack runs them. Adding a service adds it
// here; adding a route or a consumer to a service touches only that service.
package suite

import (
	"time"

	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/services/billing/billingsvc"
	"github.com/orgplane/orgplane/services/integration-sync/integrationsyncsvc"
	"github.com/orgplane/orgplane/services/mapping/mappingsvc"
	"github.com/orgplane/orgplane/services/notification/notificationsvc"
	"github.com/orgplane/orgplane/services/org/orgsvc"
)

// Options adjust the services for composition and tests.
type Options struct {
	// Clock, when set, is the time the services read (tests age data with it).
	Clock func() time.Time
	// CredentialKeys, when set, is the keyring integration credentials, TOTP secrets and SSO
	// client secrets are encrypted with (else ORGPLANE_CREDENTIAL_KEYS).
	CredentialKeys string
	// Mail, when its Addr is set, is the SMTP server notifications are sent through (else the
	// notification service's ORGPLANE_SMTP_* settings).
	Mail notificationsvc.MailOptions
	// WebBaseURL, when set, is where the links in emails lead and single sign-on's redirect URI
	// starts (else ORGPLANE_WEB_BASE_URL).
	WebBaseURL string
}

// Specs returns every service's spec.
func Specs(o Options) []platform.Spec {
	var org []orgsvc.Option
	var bill []billingsvc.Option
	var sync []integrationsyncsvc.Option
	var mapping []mappingsvc.Option
	var notification []notificationsvc.Option
	if o.Mail.Addr != "" {
		notification = append(notification, notificationsvc.WithMail(o.Mail))
	}
	if o.WebBaseURL != "" {
		notification = append(notification, notificationsvc.WithWebBaseURL(o.WebBaseURL))
		org = append(org, orgsvc.WithWebBaseURL(o.WebBaseURL))
	}
	if o.CredentialKeys != "" {
		sync = append(sync, integrationsyncsvc.WithCredentialKeys(o.CredentialKeys))
		org = append(org, orgsvc.WithCredentialKeys(o.CredentialKeys))
	}
	if o.Clock != nil {
		org = append(org, orgsvc.WithClock(o.Clock))
		bill = append(bill, billingsvc.WithClock(o.Clock))
		sync = append(sync, integrationsyncsvc.WithClock(o.Clock))
		mapping = append(mapping, mappingsvc.WithClock(o.Clock))
		notification = append(notification, notificationsvc.WithClock(o.Clock))
	}
	return []platform.Spec{
		orgsvc.Spec(org...), mappingsvc.Spec(mapping...), integrationsyncsvc.Spec(sync...), notificationsvc.Spec(notification...), billingsvc.Spec(bill...),
	}
}
