package notificationsvc_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	notificationv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/notification/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

func TestTheFeedListsCountsAndMarksTheCallersOwnNotifications(t *testing.T) {
	w := newWorld(t)
	a := w.account("Contoso MSP", "UTC", orgv1.DateFormat_DATE_FORMAT_YYYY_MM_DD)
	ann, bob := a.user("Ann", "ann@contoso.test", false), a.user("Bob", "bob@contoso.test", false)
	var reviews []review
	for i := range 3 {
		r := a.review("Review " + string(rune('A'+i)))
		reviews = append(reviews, r)
		w.org(a.ownerChanged(r, ann, bob, time.Now()))
	}
	api := w.api()
	// Newest first, in pages whose tokens carry on.
	first, err := api.ListNotifications(a.as(bob), &notificationv1.ListNotificationsRequest{AccountId: a.id, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.GetNotifications()) != 2 || first.GetNextPageToken() == "" || first.GetUnreadCount() != 3 {
		t.Fatalf("first page %v, next %q, unread %d", first.GetNotifications(), first.GetNextPageToken(), first.GetUnreadCount())
	}
	second, err := api.ListNotifications(a.as(bob), &notificationv1.ListNotificationsRequest{AccountId: a.id, PageSize: 2,
		PageToken: first.GetNextPageToken()})
	if err != nil {
		t.Fatal(err)
	}
	got := append(first.GetNotifications(), second.GetNotifications()...)
	if len(got) != 3 || second.GetNextPageToken() != "" {
		t.Fatalf("pages %v / %v", first.GetNotifications(), second.GetNotifications())
	}
	for i, n := range got {
		want := reviews[2-i]
		if n.GetReviewId() != want.id || n.GetKind() != notificationv1.NotificationKind_NOTIFICATION_KIND_REVIEW_ASSIGNED ||
			n.GetTitle() != "New review assignment: "+want.title+" (Acme)" || n.GetLink() != "/reviews/"+want.id || n.GetReadTime() != nil {
			t.Errorf("entry %d: %v", i, n)
		}
	}
	// Ann's token is not Bob's.
	if _, err := api.ListNotifications(a.as(ann), &notificationv1.ListNotificationsRequest{AccountId: a.id, PageSize: 2,
		PageToken: first.GetNextPageToken()}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("another user's page token: %v", err)
	}

	// Mark one read: only one's own; another's looks like none at all.
	if _, err := api.MarkNotificationRead(a.as(ann), &notificationv1.MarkNotificationReadRequest{AccountId: a.id,
		NotificationId: got[0].GetId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("marking another user's notification: %v", err)
	}
	read, err := api.MarkNotificationRead(a.as(bob), &notificationv1.MarkNotificationReadRequest{AccountId: a.id, NotificationId: got[0].GetId()})
	if err != nil || read.GetReadTime() == nil {
		t.Fatalf("mark read: %v, %v", read, err)
	}
	if n, err := api.GetUnreadCount(a.as(bob), &notificationv1.GetUnreadCountRequest{AccountId: a.id}); err != nil || n.GetUnreadCount() != 2 {
		t.Fatalf("unread after one read: %v, %v", n, err)
	}
	unread, err := api.ListNotifications(a.as(bob), &notificationv1.ListNotificationsRequest{AccountId: a.id, UnreadOnly: true})
	if err != nil || len(unread.GetNotifications()) != 2 {
		t.Fatalf("unread only: %v, %v", unread.GetNotifications(), err)
	}
	if n, err := api.GetUnreadCount(a.as(ann), &notificationv1.GetUnreadCountRequest{AccountId: a.id}); err != nil || n.GetUnreadCount() != 3 {
		t.Fatalf("ann's unread (her reassignments): %v, %v", n, err)
	}
	if n, err := api.MarkAllNotificationsRead(a.as(bob), &notificationv1.MarkAllNotificationsReadRequest{AccountId: a.id}); err != nil || n.GetUnreadCount() != 0 {
		t.Fatalf("mark all: %v, %v", n, err)
	}
	if n, err := api.GetUnreadCount(a.as(ann), &notificationv1.GetUnreadCountRequest{AccountId: a.id}); err != nil || n.GetUnreadCount() != 3 {
		t.Fatalf("bob's mark all touched ann's: %v, %v", n, err)
	}

	// An API key that acts as no user has no feed.
	key := identity.With(context.Background(), identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "key", AccountID: a.id,
		Permissions: []string{"notifications:read"}})
	if _, err := api.GetUnreadCount(key, &notificationv1.GetUnreadCountRequest{AccountId: a.id}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("an API key without a user: %v", err)
	}
}

func TestAUserOfOneAccountNeverSeesAnothersNotifications(t *testing.T) {
	w := newWorld(t)
	a := w.account("Contoso MSP", "UTC", orgv1.DateFormat_DATE_FORMAT_YYYY_MM_DD)
	b := w.account("Fabrikam IT", "UTC", orgv1.DateFormat_DATE_FORMAT_YYYY_MM_DD)
	annA := a.user("Ann", "ann@contoso.test", true)
	bobB := b.user("Bob", "bob@fabrikam.test", true)
	w.org(b.ownerChanged(b.review("Fabrikam's review"), "", bobB, time.Now()))
	bFeed, err := w.api().ListNotifications(b.as(bobB), &notificationv1.ListNotificationsRequest{AccountId: b.id})
	if err != nil || len(bFeed.GetNotifications()) != 1 {
		t.Fatalf("b's feed %v (%v)", bFeed.GetNotifications(), err)
	}
	bID := bFeed.GetNotifications()[0].GetId()

	feed, err := w.api().ListNotifications(a.as(annA), &notificationv1.ListNotificationsRequest{AccountId: a.id})
	if err != nil || len(feed.GetNotifications()) != 0 || feed.GetUnreadCount() != 0 {
		t.Fatalf("a's feed %v, unread %d (%v)", feed.GetNotifications(), feed.GetUnreadCount(), err)
	}
	if _, err := w.api().MarkNotificationRead(a.as(annA), &notificationv1.MarkNotificationReadRequest{AccountId: a.id, NotificationId: bID}); status.Code(err) != codes.NotFound {
		t.Fatalf("a's user marking b's notification: %v", err)
	}
	if _, err := w.api().ListNotifications(a.as(annA), &notificationv1.ListNotificationsRequest{AccountId: b.id}); status.Code(err) != codes.NotFound {
		t.Fatalf("a's user listing b's account: %v", err)
	}
	if _, err := w.api().ListDeliveries(a.as(annA), &notificationv1.ListDeliveriesRequest{AccountId: b.id}); status.Code(err) != codes.NotFound {
		t.Fatalf("a's admin listing b's deliveries: %v", err)
	}
	list, err := w.api().ListDeliveries(a.as(annA), &notificationv1.ListDeliveriesRequest{AccountId: a.id})
	if err != nil || len(list.GetDeliveries()) != 0 {
		t.Fatalf("a's deliveries %v (%v)", list.GetDeliveries(), err)
	}
	// b's notification is unread still, and no stream of a's hears of it (below).
	if n, _ := w.api().GetUnreadCount(b.as(bobB), &notificationv1.GetUnreadCountRequest{AccountId: b.id}); n.GetUnreadCount() != 1 {
		t.Fatalf("b's unread %d", n.GetUnreadCount())
	}
}

func TestTheLiveStreamDeliversANewNotificationWithinASecondFromAnyReplica(t *testing.T) {
	w := newWorld(t)
	other := w.addReplica() // the stream is served by a replica that does not apply the event
	a := w.account("Contoso MSP", "UTC", orgv1.DateFormat_DATE_FORMAT_YYYY_MM_DD)
	b := w.account("Fabrikam IT", "UTC", orgv1.DateFormat_DATE_FORMAT_YYYY_MM_DD)
	ann, bob := a.user("Ann", "ann@contoso.test", false), a.user("Bob", "bob@contoso.test", false)
	bobB := b.user("Bob", "bob@fabrikam.test", false)
	w.org(a.ownerChanged(a.review("Before the stream"), ann, bob, time.Now()))

	ctx, cancel := context.WithTimeout(a.as(bob), 10*time.Second)
	defer cancel()
	stream, err := other.api.StreamNotifications(ctx, &notificationv1.StreamNotificationsRequest{AccountId: a.id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil { // the stream listens from here on
		t.Fatal(err)
	}
	got := make(chan *notificationv1.Notification, 10)
	go func() {
		for {
			n, err := stream.Recv()
			if err != nil {
				close(got)
				return
			}
			got <- n
		}
	}()
	// Another account's and another user's notifications never reach bob's stream.
	w.org(b.ownerChanged(b.review("Fabrikam's"), "", bobB, time.Now()))
	w.org(a.ownerChanged(a.review("Ann's"), bob, ann, time.Now())) // bob hears of this one: reassigned
	r := a.review("Live")
	start := time.Now()
	w.org(a.ownerChanged(r, ann, bob, time.Now()))
	var live []*notificationv1.Notification
	for len(live) < 2 {
		select {
		case n, ok := <-got:
			if !ok {
				t.Fatal("the stream ended")
			}
			live = append(live, n)
		case <-time.After(time.Second):
			t.Fatalf("after %v the stream had delivered %v", time.Since(start), live)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the stream took %v", d)
	}
	if live[0].GetKind() != notificationv1.NotificationKind_NOTIFICATION_KIND_REVIEW_REASSIGNED ||
		live[1].GetReviewId() != r.id || live[1].GetKind() != notificationv1.NotificationKind_NOTIFICATION_KIND_REVIEW_ASSIGNED {
		t.Fatalf("streamed %v", live)
	}
	select {
	case n := <-got:
		t.Fatalf("the stream sent more: %v", n)
	case <-time.After(300 * time.Millisecond):
	}

	// Another account's user may not open a's stream.
	s2, err := other.api.StreamNotifications(b.as(bobB), &notificationv1.StreamNotificationsRequest{AccountId: a.id})
	if err == nil {
		_, err = s2.Recv()
	}
	if status.Code(err) != codes.NotFound {
		t.Fatalf("a foreign stream: %v", err)
	}
}
