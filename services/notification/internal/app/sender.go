package app

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/orgplane/orgplane/services/notification/internal/domain"
	"github.com/orgplane/orgplane/services/notification/internal/store"
)

// wakeSender tells this process's senders there are emails to send.
func (s *Service) wakeSender() {
	select {
	case s.sendWake <- struct{}{}:
	default:
	}
}

// RunSender sends queued emails until ctx ends. Emails are claimed with a lease (SKIP LOCKED, so
// replicas share the queue), sent outside any transaction, then recorded: sent, or tried again
// later with a growing wait, or given up after MaxAttempts refusals. A relay that cannot be
// reached is waited out however long it takes. A crash between sending and recording sends the
// email again once its lease runs out, with the same Message-ID.
func (s *Service) RunSender(ctx context.Context) error {
	if s.mailer == nil {
		// Email disabled: nothing is queued.
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	for range max(s.cfg.SendWorkers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.sendLoop(ctx)
		}()
	}
	wg.Wait()
	return nil
}

func (s *Service) sendLoop(ctx context.Context) {
	for ctx.Err() == nil {
		var claims []store.SendClaim
		err := s.store.InSystem(ctx, func(tx *store.Tx) error {
			var err error
			claims, err = tx.ClaimSends(ctx, s.owner, s.cfg.Lease, max(s.cfg.SendBatch, 1))
			return err
		})
		if err != nil && ctx.Err() == nil {
			s.log.Warn("claim emails", "error", err)
		}
		if len(claims) > 0 {
			s.sendBatch(ctx, claims)
			continue
		}
		sleep(ctx, s.cfg.Poll, s.sendWake)
	}
}

// outgoing is a claimed email about to be sent.
type outgoing struct {
	claim store.SendClaim
	d     domain.Delivery
	mail  Mail
}

func (s *Service) sendBatch(ctx context.Context, claims []store.SendClaim) {
	// The leases are renewed while the batch works: a slow relay must not let another worker
	// send the same emails meanwhile.
	hold, stop := context.WithCancel(ctx)
	defer stop()
	ids := make([]string, len(claims))
	for i, c := range claims {
		ids[i] = c.DeliveryID
	}
	go func() {
		t := time.NewTicker(max(s.cfg.Lease/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-hold.Done():
				return
			case <-t.C:
				if err := s.store.InSystem(hold, func(tx *store.Tx) error {
					return tx.RenewSendLeases(hold, ids, s.owner, s.cfg.Lease)
				}); err != nil && hold.Err() == nil {
					s.log.Warn("renew email leases", "error", err)
				}
			}
		}
	}()

	var batch []outgoing
	for _, c := range claims {
		var d domain.Delivery
		var acc domain.Account
		var ok bool
		err := s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
			var err error
			if d, ok, err = tx.PendingEmail(ctx, c.DeliveryID); err != nil || !ok || d.LinkID == "" {
				return err
			}
			acc, err = tx.Account(ctx, c.AccountID)
			return err
		})
		if err == nil && !ok {
			err = s.store.InSystem(ctx, func(tx *store.Tx) error { return tx.ForgetQueued(ctx, c.DeliveryID) })
		}
		if err != nil {
			// The lease runs out and the email is claimed again: nothing is lost.
			if ctx.Err() == nil {
				s.log.Warn("read queued email", "delivery", c.DeliveryID, "error", err)
			}
			continue
		}
		if !ok {
			continue
		}
		o := outgoing{claim: c, d: d, mail: Mail{ID: d.ID, To: d.Address, Subject: d.Subject, Text: d.TextBody, HTML: d.HTMLBody,
			UnsubscribeURL: d.UnsubscribeURL}}
		if d.LinkID != "" {
			// A sign-in email is rendered now, around a link org issues now (outside any
			// transaction): its token was never stored, and a retry gets a fresh one.
			if o.mail, err = s.linkMail(ctx, c.AccountID, acc, d); err != nil {
				if err := s.recordLinkFailure(ctx, o, err); err != nil && ctx.Err() == nil {
					s.log.Warn("record email", "delivery", d.ID, "error", err)
				}
				continue
			}
			// A newer email for the same link may have replaced this one while org answered:
			// its link is the one that works now, so this one stays unsent.
			err = s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
				var err error
				_, ok, err = tx.PendingEmail(ctx, d.ID)
				return err
			})
			if err != nil || !ok {
				continue
			}
		}
		batch = append(batch, o)
	}
	if len(batch) == 0 {
		return
	}
	msgs := make([]Mail, len(batch))
	for i, o := range batch {
		msgs[i] = o.mail
	}
	errs, connErr := s.mailer.Send(ctx, msgs)
	if connErr != nil && ctx.Err() == nil {
		s.log.Warn("SMTP relay unreachable; emails wait", "emails", len(batch), "error", connErr)
	}
	for i, o := range batch {
		var sendErr error
		if connErr != nil {
			sendErr = connErr
		} else if i < len(errs) {
			sendErr = errs[i]
		}
		if err := s.recordSend(ctx, o, sendErr, connErr != nil); err != nil && ctx.Err() == nil {
			// Unrecorded: the lease runs out and the email is tried again.
			s.log.Warn("record email", "delivery", o.d.ID, "error", err)
		}
	}
}

// recordSend stores a send's outcome. outage marks a relay that could not be reached: the try is
// counted in the record but never gives the email up.
func (s *Service) recordSend(ctx context.Context, o outgoing, sendErr error, outage bool) error {
	// Recorded even when ctx ends: the relay has the email, and a resend is what a lost record costs.
	ctx = context.WithoutCancel(ctx)
	return s.store.InTenant(ctx, o.claim.AccountID, func(tx *store.Tx) error {
		if sendErr == nil {
			return tx.EmailSent(ctx, o.d.ID, s.clock(), o.mail.To)
		}
		attempts, err := tx.EmailAttemptFailed(ctx, o.d.ID, errorText(sendErr))
		if err != nil {
			return err
		}
		if !outage && (errors.Is(sendErr, ErrRecipientRefused) || attempts >= max(s.cfg.MaxAttempts, 1)) {
			s.log.Warn("email given up", "delivery", o.d.ID, "attempts", attempts, "error", sendErr)
			return tx.EmailFailed(ctx, o.d.ID)
		}
		return tx.RetryEmail(ctx, o.d.ID, s.backoff(attempts))
	})
}

// recordLinkFailure records a sign-in email whose link org did not issue: skipped for good when
// org refused it, otherwise a failed try (one that never counts when org was unreachable).
func (s *Service) recordLinkFailure(ctx context.Context, o outgoing, err error) error {
	var refused *LinkRefused
	if errors.As(err, &refused) {
		ctx := context.WithoutCancel(ctx)
		return s.store.InTenant(ctx, o.claim.AccountID, func(tx *store.Tx) error {
			return tx.EmailSkipped(ctx, o.d.ID, errorText(refused))
		})
	}
	if ctx.Err() != nil {
		// Shutting down: the lease runs out and the email is tried again.
		return nil
	}
	outage := errors.Is(err, ErrOrgUnavailable)
	if outage {
		s.log.Warn("org unreachable; sign-in email waits", "delivery", o.d.ID, "error", err)
	}
	return s.recordSend(ctx, o, err, outage)
}

// backoff is the wait after the nth failed try: RetryBase doubling, at most RetryMax.
func (s *Service) backoff(n int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < n && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}

// errorText keeps the relay's words, bounded.
func errorText(err error) string {
	s := err.Error()
	if len(s) > 1000 {
		s = strings.ToValidUTF8(s[:1000], "")
	}
	return s
}
