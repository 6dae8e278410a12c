//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package pgcluster

import "errors"

func crash(int) error { return errors.New("killing a postmaster is implemented for Unix only") }

func alive(int) bool { return false }
