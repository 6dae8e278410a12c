package domain

import (
	"strings"
)

// Audience is who one kind of an event goes to, in the order the event names them.
type Audience struct {
	Kind    Kind
	UserIDs []string
	// Addresses are plain addresses (people without a user): email only.
	Addresses []string
}

// Planned is one delivery an event makes: to a user or an address, on a channel, or skipped
// with the reason.
type Planned struct {
	Kind    Kind
	Channel Channel
	// User is set for a user recipient (User.ID empty: a user id the service does not know).
	UserID  string
	User    User
	Address string
	Skip    string
}

// Recipient is the person key deliveries are unique by ("user:<id>" or "address:<address>").
func (p Planned) Recipient() string {
	if p.UserID != "" {
		return "user:" + p.UserID
	}
	return "address:" + strings.ToLower(p.Address)
}

// Plan decides who hears of an event and how. Each person hears once per event, by the first
// audience that names them (the new assignee is told of the assignment, not also of the
// ownership change); a plain address that is a named user's email counts as that user. A user
// gets an email and an in-app entry, each unless turned off for the kind; an inactive user,
// nothing; a user restricted to groups that exclude the organization (orgGroups, nil: no
// organization), nothing; a plain address, an email.
func Plan(audiences []Audience, users map[string]User, prefs map[string]map[Kind]Preference, orgGroups []string) []Planned {
	seenUser := map[string]bool{}
	seenAddr := map[string]bool{}
	var out []Planned
	for _, a := range audiences {
		for _, id := range a.UserIDs {
			if id == "" || seenUser[id] {
				continue
			}
			seenUser[id] = true
			u, known := users[id]
			if known && u.Email != "" {
				seenAddr[strings.ToLower(u.Email)] = true
			}
			email := Planned{Kind: a.Kind, Channel: ChannelEmail, UserID: id, User: u, Address: u.Email}
			inApp := Planned{Kind: a.Kind, Channel: ChannelInApp, UserID: id, User: u}
			pref, ok := prefs[id][a.Kind]
			if !ok {
				pref = DefaultPreference(a.Kind)
			}
			switch {
			case !known:
				email.Skip, inApp.Skip = SkipUnknownUser, SkipUnknownUser
			case !u.Active:
				email.Skip, inApp.Skip = SkipInactive, SkipInactive
			case orgGroups != nil && !u.Sees(orgGroups):
				email.Skip, inApp.Skip = SkipNotVisible, SkipNotVisible
			default:
				if !pref.Email {
					email.Skip = SkipTurnedOff
				} else if u.Email == "" {
					email.Skip = SkipNoAddress
				}
				if !pref.InApp {
					inApp.Skip = SkipTurnedOff
				}
			}
			out = append(out, email, inApp)
		}
	}
	// Addresses after every user of every audience, so that an address which is some user's
	// email never doubles that user, whichever list named them first.
	for _, a := range audiences {
		for _, addr := range a.Addresses {
			key := strings.ToLower(strings.TrimSpace(addr))
			if key == "" || seenAddr[key] {
				continue
			}
			seenAddr[key] = true
			out = append(out, Planned{Kind: a.Kind, Channel: ChannelEmail, Address: strings.TrimSpace(addr)})
		}
	}
	return out
}

// ApplyCap skips the emails of plan beyond the remaining allowance of the account's hourly cap,
// in plan order, and reports how many emails it left to send.
func ApplyCap(plan []Planned, remaining int) int {
	sending := 0
	for i := range plan {
		p := &plan[i]
		if p.Channel != ChannelEmail || p.Skip != "" {
			continue
		}
		if sending >= remaining {
			p.Skip = SkipCapReached
			continue
		}
		sending++
	}
	return sending
}
