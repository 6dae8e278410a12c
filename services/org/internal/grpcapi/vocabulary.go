package grpcapi

import (
	"context"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// GetSettingsVocabulary lists what the settings accept, from the same lists the domain checks
// against, so a UI can never offer a value the API refuses. It is the same for every account:
// the rule on the RPC only keeps it to callers of some account.
func (a *accountServer) GetSettingsVocabulary(context.Context, *orgv1.GetSettingsVocabularyRequest) (*orgv1.GetSettingsVocabularyResponse, error) {
	resp := &orgv1.GetSettingsVocabularyResponse{TimeZones: domain.TimeZones(), Currencies: domain.Currencies()}
	for _, f := range domain.DateFormats() {
		resp.DateFormats = append(resp.DateFormats, orgv1.DateFormat(f))
	}
	return resp, nil
}
