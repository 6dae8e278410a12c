package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // time zones are validated against the IANA database whatever the host has

	"github.com/jackc/pgx/v5"
	"golang.org/x/text/currency"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/pkg/apperr"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/logo"
)

const settingsColumns = `company_name, date_format, time_zone, currency, alignment_report_title,
	require_single_sign_on, require_two_step_verification, assign_ownership_recipient_ids::text[],
	assign_reviews_recipient_ids::text[], EXISTS (SELECT 1 FROM logos l WHERE l.organization_id IS NULL), updated_at`

func readSettings(ctx context.Context, tx pgx.Tx) (*orgv1.AccountSettings, error) {
	st := &orgv1.AccountSettings{}
	var df int16
	var updated time.Time
	err := tx.QueryRow(ctx, `SELECT `+settingsColumns+` FROM account_settings`).Scan(&st.CompanyName, &df, &st.TimeZone,
		&st.Currency, &st.AlignmentReportTitle, &st.RequireSingleSignOn, &st.RequireTwoStepVerification,
		&st.AssignOwnershipRecipientIds, &st.AssignReviewsRecipientIds, &st.HasLogo, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrAccountNotFound
	}
	st.DateFormat, st.UpdateTime = orgv1.DateFormat(df), timestamppb.New(updated)
	return st, err
}

// GetAccountSettings returns the account's settings.
func (s *Service) GetAccountSettings(ctx context.Context, accountID string) (*orgv1.AccountSettings, error) {
	if _, err := caller(ctx, accountID, read(AreaAccountSettings)); err != nil {
		return nil, err
	}
	var out *orgv1.AccountSettings
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		var err error
		out, err = readSettings(ctx, tx)
		return err
	})
	return out, err
}

// UpdateAccountSettings changes the masked settings after checking each value.
func (s *Service) UpdateAccountSettings(ctx context.Context, req *orgv1.UpdateAccountSettingsRequest) (*orgv1.AccountSettings, error) {
	if _, err := caller(ctx, req.GetAccountId(), write(AreaAccountSettings)); err != nil {
		return nil, err
	}
	paths, err := maskPaths(req.GetUpdateMask(), "update_mask", "company_name", "date_format", "time_zone", "currency",
		"alignment_report_title", "require_single_sign_on", "require_two_step_verification",
		"assign_ownership_recipient_ids", "assign_reviews_recipient_ids")
	if err != nil {
		return nil, err
	}
	in := req.GetSettings()
	var out *orgv1.AccountSettings
	err = s.inTenant(ctx, req.GetAccountId(), func(tx pgx.Tx) error {
		cur, err := readSettings(ctx, tx)
		if err != nil {
			return err
		}
		for _, p := range paths {
			switch p {
			case "company_name":
				cur.CompanyName = in.GetCompanyName()
			case "date_format":
				if in.GetDateFormat() == orgv1.DateFormat_DATE_FORMAT_UNSPECIFIED {
					return apperr.Invalid("settings.date_format", "is required")
				}
				cur.DateFormat = in.GetDateFormat()
			case "time_zone":
				if err := checkTimeZone(in.GetTimeZone()); err != nil {
					return err
				}
				cur.TimeZone = in.GetTimeZone()
			case "currency":
				if _, err := currency.ParseISO(in.GetCurrency()); err != nil || len(in.GetCurrency()) != 3 {
					return apperr.Invalidf("settings.currency", "%q is not an ISO 4217 currency code", in.GetCurrency())
				}
				cur.Currency = in.GetCurrency()
			case "alignment_report_title":
				cur.AlignmentReportTitle = in.GetAlignmentReportTitle()
			case "require_single_sign_on":
				cur.RequireSingleSignOn = in.GetRequireSingleSignOn()
			case "require_two_step_verification":
				cur.RequireTwoStepVerification = in.GetRequireTwoStepVerification()
			case "assign_ownership_recipient_ids":
				if err := checkUsers(ctx, tx, in.GetAssignOwnershipRecipientIds(), "settings.assign_ownership_recipient_ids"); err != nil {
					return err
				}
				cur.AssignOwnershipRecipientIds = in.GetAssignOwnershipRecipientIds()
			case "assign_reviews_recipient_ids":
				if err := checkUsers(ctx, tx, in.GetAssignReviewsRecipientIds(), "settings.assign_reviews_recipient_ids"); err != nil {
					return err
				}
				cur.AssignReviewsRecipientIds = in.GetAssignReviewsRecipientIds()
			}
		}
		_, err = tx.Exec(ctx, `UPDATE account_settings SET company_name = $1, date_format = $2, time_zone = $3, currency = $4,
				alignment_report_title = $5, require_single_sign_on = $6, require_two_step_verification = $7,
				assign_ownership_recipient_ids = $8::uuid[], assign_reviews_recipient_ids = $9::uuid[], updated_at = $10`,
			cur.GetCompanyName(), int16(cur.GetDateFormat()), cur.GetTimeZone(), cur.GetCurrency(), cur.GetAlignmentReportTitle(),
			cur.GetRequireSingleSignOn(), cur.GetRequireTwoStepVerification(), nonNil(cur.GetAssignOwnershipRecipientIds()),
			nonNil(cur.GetAssignReviewsRecipientIds()), s.now())
		if err != nil {
			return err
		}
		if out, err = readSettings(ctx, tx); err != nil {
			return err
		}
		err = s.enqueue(ctx, tx, &orgv1.AccountSettingsUpdated{AccountId: req.GetAccountId(), Settings: out})
		return err
	})
	return out, err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func checkTimeZone(name string) error {
	if name == "" || name == "Local" {
		return apperr.Invalid("settings.time_zone", "is required: an IANA time zone name such as America/Chicago")
	}
	if _, err := time.LoadLocation(name); err != nil {
		return apperr.Invalidf("settings.time_zone", "%q is not an IANA time zone name", name)
	}
	return nil
}

func checkUsers(ctx context.Context, tx pgx.Tx, ids []string, field string) error {
	if len(ids) == 0 {
		return nil
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM users WHERE id = ANY($1::uuid[])`, ids).Scan(&n); err != nil {
		return err
	}
	if n != len(ids) {
		return apperr.Invalid(field, "names a user that does not exist in this account")
	}
	return nil
}

// Logo is a stored logo as served back.
type Logo struct {
	ContentType string
	Data        []byte
	SHA256      string
	Updated     time.Time
}

func (s *Service) setLogo(ctx context.Context, accountID, orgID, perm string, data []byte) (*orgv1.LogoInfo, error) {
	id, err := caller(ctx, accountID, perm)
	if err != nil {
		return nil, err
	}
	l, err := logo.Process("data", data)
	if err != nil {
		return nil, err
	}
	err = s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		if orgID != "" {
			if _, err := readOrg(ctx, tx, id, orgID, true); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM logos WHERE organization_id IS NOT DISTINCT FROM $1::uuid`, nullable(orgID)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO logos (account_id, organization_id, content_type, data, sha256, width, height, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, accountID, nullable(orgID), l.ContentType, l.Data, l.SHA256, l.Width, l.Height, s.now())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &orgv1.LogoInfo{ContentType: l.ContentType, SizeBytes: int64(len(l.Data)), Width: int32(l.Width),
		Height: int32(l.Height), Sha256: l.SHA256}, nil
}

func (s *Service) getLogo(ctx context.Context, accountID, orgID, perm string) (Logo, error) {
	id, err := caller(ctx, accountID, perm)
	if err != nil {
		return Logo{}, err
	}
	var out Logo
	err = s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		if orgID != "" {
			if _, err := readOrg(ctx, tx, id, orgID, false); err != nil {
				return err
			}
		}
		err := tx.QueryRow(ctx, `SELECT content_type, data, sha256, updated_at FROM logos WHERE organization_id IS NOT DISTINCT FROM $1::uuid`,
			nullable(orgID)).Scan(&out.ContentType, &out.Data, &out.SHA256, &out.Updated)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrLogoNotFound
		}
		return err
	})
	return out, err
}

// SetAccountLogo stores the company logo.
func (s *Service) SetAccountLogo(ctx context.Context, accountID string, data []byte) (*orgv1.LogoInfo, error) {
	return s.setLogo(ctx, accountID, "", write(AreaAccountSettings), data)
}

// AccountLogo returns the company logo. Anyone in the account may see it.
func (s *Service) AccountLogo(ctx context.Context, accountID string) (Logo, error) {
	return s.getLogo(ctx, accountID, "", "")
}

// DeleteAccountLogo removes the company logo.
func (s *Service) DeleteAccountLogo(ctx context.Context, accountID string) error {
	if _, err := caller(ctx, accountID, write(AreaAccountSettings)); err != nil {
		return err
	}
	return s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM logos WHERE organization_id IS NULL`)
		return err
	})
}

// SetOrganizationLogo stores an organization's logo.
func (s *Service) SetOrganizationLogo(ctx context.Context, accountID, orgID string, data []byte) (*orgv1.LogoInfo, error) {
	return s.setLogo(ctx, accountID, orgID, write(AreaOrganizations), data)
}

// OrganizationLogo returns an organization's logo.
func (s *Service) OrganizationLogo(ctx context.Context, accountID, orgID string) (Logo, error) {
	return s.getLogo(ctx, accountID, orgID, read(AreaOrganizations))
}

// ETag is a strong validator for a logo's bytes.
func (l Logo) ETag() string {
	if l.SHA256 != "" {
		return `"` + l.SHA256 + `"`
	}
	d := sha256.Sum256(l.Data)
	return fmt.Sprintf(`"%s"`, hex.EncodeToString(d[:]))
}
