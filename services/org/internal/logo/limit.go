package logo

import (
	"context"
	"runtime"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// decodeSlots limits how many images this process decodes or inspects at once. It is
// deliberately process-wide rather than per Service: what it protects is the process's memory and
// cores, which every tenant shares. A quarter of the cores (at least one) leaves the rest to
// everyone else's requests, and bounds the memory images can take at slots x maxDecodedBytes
// plus what scaling and encoding need (a few MiB for a 260 px logo).
var decodeSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/4))

// maxQueueWait is how long an upload waits for a slot before being told to retry. At about a
// hundred milliseconds an image this is dozens of uploads ahead of it; waiting out the caller's
// whole deadline instead would turn a burst of uploads into gateway timeouts (504).
const maxQueueWait = 5 * time.Second

// errBusy is Unavailable (503 with Retry-After at the gateway): the request was fine, the
// process is busy, and trying again shortly is the right thing for a client to do.
var errBusy = apperr.Unavailable("too many images are being processed at once; retry in a few seconds")

// acquire takes a decode slot, waiting at most maxQueueWait and never beyond ctx. The returned
// function gives the slot back.
func acquire(ctx context.Context) (release func(), err error) {
	select {
	case decodeSlots <- struct{}{}:
		return func() { <-decodeSlots }, nil
	default:
	}
	t := time.NewTimer(maxQueueWait)
	defer t.Stop()
	select {
	case decodeSlots <- struct{}{}:
		return func() { <-decodeSlots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, errBusy
	}
}
