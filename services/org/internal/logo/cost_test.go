package logo_test

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image/jpeg"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/logo"
)

// hostilePNG is the upload of issue 12: a valid 10000x4000 PNG at 16 bits per channel (RGBA)
// whose 320 MB of zero pixels deflate to 311 KB. It is built once: compressing takes about a
// second.
var hostilePNG = sync.OnceValue(func() []byte {
	const w, h = 10000, 4000
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	row := make([]byte, 1+w*8) // filter byte, then 8 bytes a pixel
	for range h {
		_, _ = zw.Write(row)
	}
	_ = zw.Close()
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 16, 6 // bit depth, color type RGBA
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	b.Write(pngChunk("IHDR", ihdr))
	b.Write(pngChunk("IDAT", z.Bytes()))
	b.Write(pngChunk("IEND", nil))
	return b.Bytes()
})

// pngHeaderOnly is a 1x1 PNG whose IHDR claims another size and bit depth (valid CRC), so the
// header checks are tested without building the image.
func pngHeaderOnly(t *testing.T, w, h uint32, depth byte) []byte {
	t.Helper()
	b := pngBytes(t, 1, 1)
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	b[24] = depth
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// progressiveJPEG is a real baseline JPEG whose frame header is rewritten to claim a progressive
// w x h image with every component at full resolution (4:4:4).
func progressiveJPEG(t *testing.T, w, h uint16) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, pattern(16, 16), nil); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	i := bytes.Index(b, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 in the encoded JPEG")
	}
	b[i+1] = 0xc2
	binary.BigEndian.PutUint16(b[i+5:], h)
	binary.BigEndian.PutUint16(b[i+7:], w)
	for c := range int(b[i+9]) {
		b[i+10+3*c+1] = 0x11
	}
	return b
}

func TestHeaderLimitsRefuseBeforeDecoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{name: "issue 12's 10000x4000 16-bit PNG", data: hostilePNG(), want: "is too large: 10000x4000 pixels"},
		{name: "one pixel over 4 megapixels", data: pngHeaderOnly(t, 2001, 2000, 8), want: "is too large: 2001x2000 pixels"},
		{name: "a small 16-bit PNG", data: pngHeaderOnly(t, 100, 100, 16), want: "is a 16-bit PNG image; the limit is 8 bits per channel"},
		{name: "progressive 4:4:4 JPEG whose coefficients exceed the budget", data: progressiveJPEG(t, 2000, 2000), want: "is too costly to decode: 2000x2000 pixels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := logo.Process(t.Context(), "organization.logo", tt.data)
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.KindInvalid || e.Field != "organization.logo" {
				t.Fatalf("err = %v, want invalid naming organization.logo", err)
			}
			if !strings.Contains(e.Message, tt.want) {
				t.Errorf("Message = %q, want it to contain %q", e.Message, tt.want)
			}
		})
	}
}

// The limits are what they say: an image exactly at them is processed (and scaled), so the
// refusals above are about cost, not an accident of the header.
func TestImagesAtTheLimitsAreAccepted(t *testing.T) {
	t.Parallel()
	for name, data := range map[string][]byte{
		"2000x2000 PNG":  pngBytes(t, 2000, 2000),
		"4000x1000 JPEG": jpegBytes(t, 4000, 1000),
		"260x10000 PNG":  pngBytes(t, 260, 10000),
		// Go's decoder, like libjpeg, skips stray bytes before a marker; the header reading
		// must too, or such a JPEG would be called damaged.
		"JPEG with stray bytes before a marker": jpegWithStrayBytes(t),
	} {
		t.Run(name, func(t *testing.T) {
			// The process decodes one image per four cores at a time and tells the rest to retry
			// (errBusy): with the package's other tests running beside this one, a client's retry
			// is what an upload at the limits gets, and what this test does.
			var got logo.Logo
			var err error
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
				got, err = logo.Process(t.Context(), field, data)
				if e, ok := apperr.As(err); !ok || e.Kind != apperr.KindUnavailable || time.Now().After(deadline) {
					break
				}
			}
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if got.Width > logo.MaxWidth {
				t.Errorf("stored width %d, want at most %d", got.Width, logo.MaxWidth)
			}
		})
	}
}

func jpegWithStrayBytes(t *testing.T) []byte {
	t.Helper()
	b := jpegBytes(t, 64, 64)
	i := bytes.Index(b, []byte{0xff, 0xc0}) // the frame header the checks read
	if i < 0 {
		t.Fatal("no SOF0 in the encoded JPEG")
	}
	return slices.Concat(b[:i], []byte{0x00, 0x17}, b[i:])
}

// Not parallel: it reads process-wide allocation counters and times the call. The bounds are
// tolerant (a busy machine) yet far below what decoding costs: before the header checks, this
// upload took 2.6 to 9.3 s and 300+ MiB.
func TestHostilePNGIsRefusedFastAndCheaply(t *testing.T) {
	data := hostilePNG()
	if len(data) > 320<<10 {
		t.Fatalf("hostile PNG is %d bytes, want the issue's ~311 KB", len(data))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := logo.Process(t.Context(), "logo.data", data)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if e, ok := apperr.As(err); !ok || e.Kind != apperr.KindInvalid || e.Field != "logo.data" {
		t.Fatalf("err = %v, want invalid naming logo.data", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("refusing it allocated %d bytes, want under 4 MiB", n)
	}
	if took > 500*time.Millisecond {
		t.Errorf("refusing it took %v, want well under a second", took)
	}
}

// The most an accepted raster can cost stays in the tens of MiB: 4 megapixels decoded at 4 bytes,
// plus scaling and encoding a 260 px logo (decoder and compressor buffers included); about 32 MiB
// when measured, against 300+ MiB for the PNG before the header checks.
func TestLargestAcceptedImageAllocatesBoundedMemory(t *testing.T) {
	data := pngBytes(t, 2000, 2000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := logo.Process(t.Context(), field, data); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
		t.Errorf("processing a 4-megapixel PNG allocated %d MiB, want under 64", n>>20)
	}
}

// SVG is walked, not decoded, but 2 MiB of well-formed nesting is still a stack 300,000 deep in
// the XML decoder: it is refused at a depth no editor produces, cheaply and naming the field.
func TestDeeplyNestedSVGIsRefusedCheaply(t *testing.T) {
	open, end := `<svg xmlns="http://www.w3.org/2000/svg">`, `</svg>`
	n := (logo.MaxBytes - len(open) - len(end)) / len("<g></g>")
	data := []byte(open + strings.Repeat("<g>", n) + strings.Repeat("</g>", n) + end)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := logo.Process(t.Context(), field, data)
	runtime.ReadMemStats(&after)
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.KindInvalid || e.Field != field || !strings.Contains(e.Message, "nests elements more than") {
		t.Fatalf("err = %v, want invalid %s naming the nesting", err, field)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Errorf("refusing it allocated %d MiB, want under 8", n>>20)
	}
}
