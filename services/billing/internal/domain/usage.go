package domain

import (
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// Usage is an account's limit as the org service enforces it and its exact use there.
type Usage struct {
	OrgLimit
	Used int32
}

// Remaining is how many more organizations may become active: never negative, and 0 for an
// unlimited plan (where it means nothing).
func (u Usage) Remaining() int32 {
	if u.Unlimited {
		return 0
	}
	return max(u.Limit-u.Used, 0)
}

// CanAddOrganizations says whether one more organization may become active now.
func (u Usage) CanAddOrganizations() bool {
	return u.Writable && (u.Unlimited || u.Remaining() > 0)
}

// LicenseChange is one recorded change of an account's licenses.
type LicenseChange struct {
	ID string
	// Seq orders the changes recorded within one clock tick.
	Seq       int64
	Delta     int32
	Limit     int32
	ChangedBy string
	At        time.Time
}

// DailyUsage is one day of an account's usage history.
type DailyUsage struct {
	Date   string // YYYY-MM-DD
	Active int32
	Peak   int32
}

// MaxHistoryDays bounds one usage history request.
const MaxHistoryDays = 366

// DateRange is the inclusive range of days of a usage history request.
type DateRange struct{ From, To time.Time }

// ParseDateRange reads a request's start and end dates (YYYY-MM-DD) and checks the range.
func ParseDateRange(start, end string) (DateRange, error) {
	from, err1 := time.Parse(time.DateOnly, start)
	to, err2 := time.Parse(time.DateOnly, end)
	switch {
	case err1 != nil:
		return DateRange{}, apperr.Invalid("start_date", "is not a calendar date")
	case err2 != nil:
		return DateRange{}, apperr.Invalid("end_date", "is not a calendar date")
	case to.Before(from):
		return DateRange{}, apperr.Invalid("end_date", "is before start_date")
	case to.Sub(from) > MaxHistoryDays*24*time.Hour:
		return DateRange{}, apperr.Invalid("end_date", "is more than 366 days after start_date")
	}
	return DateRange{From: from, To: to}, nil
}
