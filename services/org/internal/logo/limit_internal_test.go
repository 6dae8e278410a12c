package logo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/png"
	"testing"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// Not parallel: it holds every decode slot of the process, as a burst of uploads would.
func TestDecodingWaitsForASlotButHeaderRefusalsDoNot(t *testing.T) {
	var small bytes.Buffer
	if err := png.Encode(&small, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	// The same PNG claiming 10000x4000 in its header.
	huge := bytes.Clone(small.Bytes())
	binary.BigEndian.PutUint32(huge[16:], 10000)
	binary.BigEndian.PutUint32(huge[20:], 4000)
	binary.BigEndian.PutUint32(huge[29:], crc32.ChecksumIEEE(huge[12:29]))
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>`)

	for range cap(decodeSlots) {
		decodeSlots <- struct{}{}
	}
	held := true
	releaseAll := func() {
		if held {
			for range cap(decodeSlots) {
				<-decodeSlots
			}
			held = false
		}
	}
	defer releaseAll()

	// What the header refuses never queues: a hostile upload costs nothing even while the
	// decoders are busy.
	start := time.Now()
	if _, err := Process(t.Context(), "data", huge); apperr.KindOf(err) != apperr.KindInvalid {
		t.Fatalf("header bomb with every slot taken: %v, want invalid", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("header refusal took %v with every slot taken; it must not queue", took)
	}

	// Work that needs a slot waits with the caller's context...
	for name, data := range map[string][]byte{"PNG": small.Bytes(), "SVG": svg} {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		_, err := Process(ctx, "data", data)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with every slot taken: %v, want the caller's deadline", name, err)
		}
	}
	// ...and at most maxQueueWait, after which it is told to retry (503 at the gateway).
	start = time.Now()
	_, err := Process(t.Context(), "data", small.Bytes())
	if apperr.KindOf(err) != apperr.KindUnavailable {
		t.Errorf("PNG waiting past maxQueueWait: %v, want unavailable", err)
	}
	if took := time.Since(start); took < maxQueueWait || took > maxQueueWait+2*time.Second {
		t.Errorf("gave up after %v, want about %v", took, maxQueueWait)
	}

	releaseAll()
	if _, err := Process(t.Context(), "data", small.Bytes()); err != nil {
		t.Errorf("once slots are free: %v", err)
	}
	if len(decodeSlots) != 0 {
		t.Errorf("%d slots still taken after the calls returned", len(decodeSlots))
	}
}
