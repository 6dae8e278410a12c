package domain

import (
	"slices"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
)

// CheckFields refuses settings and credentials a kind does not take, a credential given as a
// setting (it would be stored in clear) and, when complete, a required field left unset. Field
// paths are named as the REST body spells them ("credentials.apiKey").
func CheckFields(k connector.Kind, settings, credentials map[string]string, setCredentials []string, complete bool) error {
	byName := map[string]connector.Field{}
	for _, f := range k.Fields {
		byName[f.Name] = f
	}
	for _, name := range sortedKeys(settings) {
		f, ok := byName[name]
		switch {
		case !ok:
			return apperr.Invalidf("settings."+name, "%s takes no setting %q", k.Title, name)
		case f.Secret:
			return apperr.Invalidf("settings."+name, "%s is a credential: send it in credentials, where it is stored encrypted", name)
		}
	}
	for _, name := range sortedKeys(credentials) {
		f, ok := byName[name]
		switch {
		case !ok:
			return apperr.Invalidf("credentials."+name, "%s takes no credential %q", k.Title, name)
		case !f.Secret:
			return apperr.Invalidf("credentials."+name, "%s is a setting, not a credential: send it in settings", name)
		case credentials[name] == "" && f.Required:
			return apperr.Invalidf("credentials."+name, "%s is required", name)
		}
	}
	if !complete {
		return nil
	}
	for _, f := range k.Fields {
		if !f.Required {
			continue
		}
		if f.Secret && credentials[f.Name] == "" && !slices.Contains(setCredentials, f.Name) {
			return apperr.Invalidf("credentials."+f.Name, "%s is required for %s", f.Name, k.Title)
		}
		if !f.Secret && settings[f.Name] == "" {
			return apperr.Invalidf("settings."+f.Name, "%s is required for %s", f.Name, k.Title)
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
