package pbconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// Account is an account as the API shows it.
func Account(a domain.Account) *orgv1.Account {
	return &orgv1.Account{Id: a.ID, DisplayName: a.DisplayName, CreateTime: timestamppb.New(a.Created)}
}

// Accounts converts a list of accounts.
func Accounts(as []domain.Account) []*orgv1.Account {
	out := make([]*orgv1.Account, len(as))
	for i, a := range as {
		out[i] = Account(a)
	}
	return out
}

// Settings are an account's settings as the API (and AccountSettingsUpdated) shows them.
func Settings(s domain.Settings) *orgv1.AccountSettings {
	return &orgv1.AccountSettings{
		CompanyName:                 s.CompanyName,
		DateFormat:                  orgv1.DateFormat(s.DateFormat),
		TimeZone:                    s.TimeZone,
		Currency:                    s.Currency,
		AlignmentReportTitle:        s.AlignmentReportTitle,
		RequireSingleSignOn:         s.RequireSingleSignOn,
		RequireTwoStepVerification:  s.RequireTwoStepVerification,
		AssignOwnershipRecipientIds: s.AssignOwnershipRecipientIDs,
		AssignReviewsRecipientIds:   s.AssignReviewsRecipientIDs,
		HasLogo:                     s.HasLogo,
		UpdateTime:                  timestamppb.New(s.Updated),
	}
}

// SettingsFromProto reads the writable settings of a request.
func SettingsFromProto(s *orgv1.AccountSettings) domain.Settings {
	return domain.Settings{
		CompanyName:                 s.GetCompanyName(),
		DateFormat:                  domain.DateFormat(s.GetDateFormat()),
		TimeZone:                    s.GetTimeZone(),
		Currency:                    s.GetCurrency(),
		AlignmentReportTitle:        s.GetAlignmentReportTitle(),
		RequireSingleSignOn:         s.GetRequireSingleSignOn(),
		RequireTwoStepVerification:  s.GetRequireTwoStepVerification(),
		AssignOwnershipRecipientIDs: s.GetAssignOwnershipRecipientIds(),
		AssignReviewsRecipientIDs:   s.GetAssignReviewsRecipientIds(),
	}
}
