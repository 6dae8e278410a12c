// Package pbconv turns the notification service's domain values into their protos and back.
package pbconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	notificationv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/notification/v1"
	"github.com/orgplane/orgplane/services/notification/internal/domain"
)

// Notification is a feed entry's proto.
func Notification(n domain.Notification) *notificationv1.Notification {
	p := &notificationv1.Notification{Id: n.ID, Kind: notificationv1.NotificationKind(n.Kind), Title: n.Title, Body: n.Body,
		Link: n.Link, ReviewId: n.ReviewID, OrganizationId: n.OrganizationID, CreateTime: timestamppb.New(n.Created)}
	if !n.Read.IsZero() {
		p.ReadTime = timestamppb.New(n.Read)
	}
	return p
}

// Preferences is a user's preferences' proto.
func Preferences(list []domain.Preference) *notificationv1.NotificationPreferences {
	out := &notificationv1.NotificationPreferences{Preferences: make([]*notificationv1.Preference, 0, len(list))}
	for _, p := range list {
		out.Preferences = append(out.Preferences, &notificationv1.Preference{Kind: notificationv1.NotificationKind(p.Kind),
			Email: p.Email, InApp: p.InApp})
	}
	return out
}

// PreferencesIn reads preferences from their proto.
func PreferencesIn(p *notificationv1.NotificationPreferences) []domain.Preference {
	out := make([]domain.Preference, 0, len(p.GetPreferences()))
	for _, v := range p.GetPreferences() {
		out = append(out, domain.Preference{Kind: domain.Kind(v.GetKind()), Email: v.GetEmail(), InApp: v.GetInApp()})
	}
	return out
}

func recipients(r domain.Recipients) *notificationv1.Recipients {
	return &notificationv1.Recipients{UserIds: nonNil(r.UserIDs), Addresses: nonNil(r.Addresses)}
}

func recipientsIn(r *notificationv1.Recipients) domain.Recipients {
	return domain.Recipients{UserIDs: r.GetUserIds(), Addresses: r.GetAddresses()}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Settings is an account's settings' proto.
func Settings(s domain.Settings) *notificationv1.NotificationSettings {
	p := &notificationv1.NotificationSettings{OwnershipChanged: recipients(s.OwnershipChanged), ReviewCreated: recipients(s.ReviewCreated),
		IntegrationTrouble: recipients(s.IntegrationTrouble), ReminderQuietDays: int32(s.ReminderQuietDays),
		HourlyEmailCap: int32(s.HourlyEmailCap)}
	if !s.Updated.IsZero() {
		p.UpdateTime = timestamppb.New(s.Updated)
	}
	return p
}

// SettingsIn reads settings from their proto.
func SettingsIn(p *notificationv1.NotificationSettings) domain.Settings {
	return domain.Settings{OwnershipChanged: recipientsIn(p.GetOwnershipChanged()), ReviewCreated: recipientsIn(p.GetReviewCreated()),
		IntegrationTrouble: recipientsIn(p.GetIntegrationTrouble()), ReminderQuietDays: int(p.GetReminderQuietDays()),
		HourlyEmailCap: int(p.GetHourlyEmailCap())}
}

// Delivery is a delivery's proto.
func Delivery(d domain.Delivery) *notificationv1.Delivery {
	p := &notificationv1.Delivery{Id: d.ID, EventId: d.EventID, Kind: notificationv1.NotificationKind(d.Kind),
		Channel: notificationv1.Channel(d.Channel), UserId: d.UserID, Address: d.Address, Status: notificationv1.DeliveryStatus(d.Status),
		Attempts: int32(d.Attempts), Error: d.Error, CreateTime: timestamppb.New(d.Created), Subject: d.Subject}
	if !d.Sent.IsZero() {
		p.SentTime = timestamppb.New(d.Sent)
	}
	return p
}
