// Package grpcapi is the notification service's gRPC transport: requests to use cases, domain
// values to protos, nothing else.
package grpcapi

import (
	"context"

	"google.golang.org/grpc"

	notificationv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/notification/v1"
	"github.com/orgplane/orgplane/services/notification/internal/app"
	"github.com/orgplane/orgplane/services/notification/internal/domain"
	"github.com/orgplane/orgplane/services/notification/internal/pbconv"
)

// Register registers the NotificationService and the UnsubscribeService on s.
func Register(s grpc.ServiceRegistrar, svc *app.Service) {
	notificationv1.RegisterNotificationServiceServer(s, &notifications{svc: svc})
	notificationv1.RegisterUnsubscribeServiceServer(s, &unsubscribes{svc: svc})
}

type notifications struct {
	notificationv1.UnimplementedNotificationServiceServer
	svc *app.Service
}

func (g *notifications) ListNotifications(ctx context.Context, req *notificationv1.ListNotificationsRequest) (*notificationv1.ListNotificationsResponse, error) {
	page, err := g.svc.ListNotifications(ctx, req.GetAccountId(), req.GetPageSize(), req.GetPageToken(), req.GetUnreadOnly())
	if err != nil {
		return nil, err
	}
	out := &notificationv1.ListNotificationsResponse{NextPageToken: page.Next, UnreadCount: page.Unread,
		Notifications: make([]*notificationv1.Notification, 0, len(page.Notifications))}
	for _, n := range page.Notifications {
		out.Notifications = append(out.Notifications, pbconv.Notification(n))
	}
	return out, nil
}

func (g *notifications) GetUnreadCount(ctx context.Context, req *notificationv1.GetUnreadCountRequest) (*notificationv1.UnreadCount, error) {
	n, err := g.svc.UnreadCount(ctx, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	return &notificationv1.UnreadCount{UnreadCount: n}, nil
}

func (g *notifications) MarkNotificationRead(ctx context.Context, req *notificationv1.MarkNotificationReadRequest) (*notificationv1.Notification, error) {
	n, err := g.svc.MarkRead(ctx, req.GetAccountId(), req.GetNotificationId())
	if err != nil {
		return nil, err
	}
	return pbconv.Notification(n), nil
}

func (g *notifications) MarkAllNotificationsRead(ctx context.Context, req *notificationv1.MarkAllNotificationsReadRequest) (*notificationv1.UnreadCount, error) {
	n, err := g.svc.MarkAllRead(ctx, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	return &notificationv1.UnreadCount{UnreadCount: n}, nil
}

func (g *notifications) StreamNotifications(req *notificationv1.StreamNotificationsRequest, ss grpc.ServerStreamingServer[notificationv1.Notification]) error {
	// Headers go out once the stream listens: a client that waits for them misses nothing after.
	ready := func() error { return ss.SendHeader(nil) }
	return g.svc.StreamNotifications(ss.Context(), req.GetAccountId(), ready, func(n domain.Notification) error {
		return ss.Send(pbconv.Notification(n))
	})
}

func (g *notifications) GetNotificationPreferences(ctx context.Context, req *notificationv1.GetNotificationPreferencesRequest) (*notificationv1.NotificationPreferences, error) {
	list, err := g.svc.Preferences(ctx, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	return pbconv.Preferences(list), nil
}

func (g *notifications) UpdateNotificationPreferences(ctx context.Context, req *notificationv1.UpdateNotificationPreferencesRequest) (*notificationv1.NotificationPreferences, error) {
	list, err := g.svc.UpdatePreferences(ctx, req.GetAccountId(), pbconv.PreferencesIn(req.GetPreferences()))
	if err != nil {
		return nil, err
	}
	return pbconv.Preferences(list), nil
}

func (g *notifications) GetNotificationSettings(ctx context.Context, req *notificationv1.GetNotificationSettingsRequest) (*notificationv1.NotificationSettings, error) {
	s, err := g.svc.Settings(ctx, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	return pbconv.Settings(s), nil
}

func (g *notifications) UpdateNotificationSettings(ctx context.Context, req *notificationv1.UpdateNotificationSettingsRequest) (*notificationv1.NotificationSettings, error) {
	s, err := g.svc.UpdateSettings(ctx, req.GetAccountId(), pbconv.SettingsIn(req.GetSettings()), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return pbconv.Settings(s), nil
}

func (g *notifications) ListDeliveries(ctx context.Context, req *notificationv1.ListDeliveriesRequest) (*notificationv1.ListDeliveriesResponse, error) {
	page, err := g.svc.ListDeliveries(ctx, req.GetAccountId(), req.GetPageSize(), req.GetPageToken(), domain.Status(req.GetStatus()))
	if err != nil {
		return nil, err
	}
	out := &notificationv1.ListDeliveriesResponse{NextPageToken: page.Next, Deliveries: make([]*notificationv1.Delivery, 0, len(page.Deliveries))}
	for _, d := range page.Deliveries {
		out.Deliveries = append(out.Deliveries, pbconv.Delivery(d))
	}
	return out, nil
}

type unsubscribes struct {
	notificationv1.UnimplementedUnsubscribeServiceServer
	svc *app.Service
}

func (g *unsubscribes) Unsubscribe(ctx context.Context, req *notificationv1.UnsubscribeRequest) (*notificationv1.UnsubscribeResponse, error) {
	k, err := g.svc.Unsubscribe(ctx, req.GetToken())
	if err != nil {
		return nil, err
	}
	return &notificationv1.UnsubscribeResponse{Kind: notificationv1.NotificationKind(k)}, nil
}
