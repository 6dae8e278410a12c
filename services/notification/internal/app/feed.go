package app

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/notification/internal/domain"
	"github.com/orgplane/orgplane/services/notification/internal/store"
)

// Feed page sizes (the API's: default 50, at most 200).
const (
	defaultFeedPage = 50
	maxFeedPage     = 200
)

// FeedPage is one page of a feed.
type FeedPage struct {
	Notifications []domain.Notification
	Next          string
	Unread        int64
}

// ListNotifications lists the caller's feed, newest first.
func (s *Service) ListNotifications(ctx context.Context, accountID string, size int32, token string, unreadOnly bool) (FeedPage, error) {
	user, err := feedOwner(ctx, accountID)
	if err != nil {
		return FeedPage{}, err
	}
	if size <= 0 {
		size = defaultFeedPage
	}
	page, err := pagetoken.Open[store.FeedPosition](ctx, s.pages, "notifications", min(size, maxFeedPage), token,
		accountID, user, strconv.FormatBool(unreadOnly))
	if err != nil {
		return FeedPage{}, err
	}
	var out FeedPage
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var after *store.FeedPosition
		if page.Continues {
			after = &page.After
		}
		list, err := tx.Notifications(ctx, user, unreadOnly, after, page.Size+1)
		if err != nil {
			return err
		}
		out.Notifications, out.Next, err = pagetoken.Next(page, list, func(n domain.Notification) store.FeedPosition {
			return store.FeedPosition{At: n.Created, ID: n.ID}
		})
		if err != nil {
			return err
		}
		out.Unread, err = tx.UnreadCount(ctx, user)
		return err
	})
	return out, err
}

// UnreadCount counts the caller's unread notifications.
func (s *Service) UnreadCount(ctx context.Context, accountID string) (int64, error) {
	user, err := feedOwner(ctx, accountID)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		n, err = tx.UnreadCount(ctx, user)
		return err
	})
	return n, err
}

// MarkRead marks one of the caller's notifications read; another user's is not found.
func (s *Service) MarkRead(ctx context.Context, accountID, id string) (domain.Notification, error) {
	user, err := feedOwner(ctx, accountID)
	if err != nil {
		return domain.Notification{}, err
	}
	var n domain.Notification
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		n, err = tx.MarkRead(ctx, user, id, s.clock())
		return err
	})
	return n, err
}

// MarkAllRead marks every notification of the caller read and returns the unread count left.
func (s *Service) MarkAllRead(ctx context.Context, accountID string) (int64, error) {
	user, err := feedOwner(ctx, accountID)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if err := tx.MarkAllRead(ctx, user, s.clock()); err != nil {
			return err
		}
		var err error
		n, err = tx.UnreadCount(ctx, user)
		return err
	})
	return n, err
}

// StreamNotifications sends the caller's new notifications as they are recorded, until ctx ends.
// ready runs once the stream listens (the transport sends its headers then, so a client knows
// from then on nothing is missed). Any replica's change reaches it: the transaction that adds an
// entry signals on a Postgres channel every replica listens on.
func (s *Service) StreamNotifications(ctx context.Context, accountID string, ready func() error, send func(domain.Notification) error) error {
	user, err := feedOwner(ctx, accountID)
	if err != nil {
		return err
	}
	signal, cancel := s.feed.subscribe(accountID + "/" + user)
	defer cancel()
	start := s.clock()
	since := start.Add(-s.cfg.StreamSlack)
	// What the caller could already list is not sent; what commits from now on is, including an
	// entry stamped a moment before the stream began whose transaction had not committed yet.
	seen := map[string]time.Time{}
	read := func() ([]domain.Notification, error) {
		var list []domain.Notification
		err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
			var err error
			list, err = tx.NotificationsSince(ctx, user, since)
			return err
		})
		return list, err
	}
	existing, err := read()
	if err != nil {
		return err
	}
	for _, n := range existing {
		if n.Created.Before(start) {
			seen[n.ID] = n.Created
		}
	}
	if err := ready(); err != nil {
		return err
	}
	for _, n := range existing {
		if _, ok := seen[n.ID]; !ok {
			if err := send(n); err != nil {
				return err
			}
			seen[n.ID] = n.Created
		}
	}
	// A missed signal (a listener reconnecting) costs at most this long.
	safety := time.NewTicker(max(s.cfg.Poll, time.Second) * 6)
	defer safety.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-signal:
		case <-safety.C:
		}
		list, err := read()
		if err != nil {
			return err
		}
		latest := since
		for _, n := range list {
			if n.Created.After(latest) {
				latest = n.Created
			}
			if _, ok := seen[n.ID]; ok {
				continue
			}
			if err := send(n); err != nil {
				return err
			}
			seen[n.ID] = n.Created
		}
		// Keep looking back a slack's length behind the newest entry seen, and forget what fell
		// out of that window.
		if next := latest.Add(-s.cfg.StreamSlack); next.After(since) {
			since = next
			for id, at := range seen {
				if at.Before(since) {
					delete(seen, id)
				}
			}
		}
	}
}

// hub hands this process's live streams the feed signals its one listening connection receives.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

func newHub() *hub { return &hub{subs: map[string]map[chan struct{}]struct{}{}} }

func (h *hub) subscribe(key string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[key] == nil {
		h.subs[key] = map[chan struct{}]struct{}{}
	}
	h.subs[key][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[key], ch)
		if len(h.subs[key]) == 0 {
			delete(h.subs, key)
		}
		h.mu.Unlock()
	}
}

// signal wakes the streams of key (every stream when key is empty); a stream already woken stays
// woken once.
func (h *hub) signal(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, subs := range h.subs {
		if key != "" && k != key {
			continue
		}
		for ch := range subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// RunFeedListener listens for feed changes on a connection of its own until ctx ends, and wakes
// the streams they concern. A broken connection is replaced, and every stream woken to catch up.
func (s *Service) RunFeedListener(ctx context.Context) error {
	for backoff := 100 * time.Millisecond; ctx.Err() == nil; backoff = min(backoff*2, 5*time.Second) {
		conn, err := s.store.Listen(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("cannot listen for feed changes; retrying", "error", err, "retry_in", backoff)
			}
			sleep(ctx, backoff, nil)
			continue
		}
		backoff = 100 * time.Millisecond
		s.feed.signal("")
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("feed listener lost its connection", "error", err)
				}
				break
			}
			s.feed.signal(n.Payload)
		}
		_ = conn.Close(context.WithoutCancel(ctx))
	}
	return nil
}
