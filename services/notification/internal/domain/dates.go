package domain

import (
	"time"
)

// DateFormat is org's DateFormat: how an account's staff read dates.
type DateFormat int16

const (
	DateFormatUnspecified DateFormat = 0
	DateFormatMMDDYYYY    DateFormat = 1
	DateFormatDDMMYYYY    DateFormat = 2
	DateFormatYYYYMMDD    DateFormat = 3
)

// layout is the Go layout of the format; unset reads as org's default, MM/DD/YYYY.
func (f DateFormat) layout() string {
	switch f {
	case DateFormatDDMMYYYY:
		return "02/01/2006"
	case DateFormatYYYYMMDD:
		return "2006-01-02"
	}
	return "01/02/2006"
}

// Clock is how one account reads dates and times: its time zone and date format.
type Clock struct {
	loc    *time.Location
	format DateFormat
}

// NewClock returns the account's clock; an unknown time zone reads as UTC rather than failing a
// notification.
func NewClock(timeZone string, format DateFormat) Clock {
	loc, err := time.LoadLocation(timeZone)
	if err != nil || timeZone == "" {
		loc = time.UTC
	}
	return Clock{loc: loc, format: format}
}

// Date is t's calendar day in the account's zone and format.
func (c Clock) Date(t time.Time) string { return t.In(c.loc).Format(c.format.layout()) }

// DateTime is t in the account's zone: its date format, a 24-hour time and the zone's
// abbreviation ("12/31/2026 17:05 CST").
func (c Clock) DateTime(t time.Time) string {
	return t.In(c.loc).Format(c.format.layout() + " 15:04 MST")
}

// Day formats a calendar date given as YYYY-MM-DD (a due date: no time, no zone); anything else
// is returned as it is.
func (c Clock) Day(isoDate string) string {
	d, err := time.Parse("2006-01-02", isoDate)
	if err != nil {
		return isoDate
	}
	return d.Format(c.format.layout())
}
