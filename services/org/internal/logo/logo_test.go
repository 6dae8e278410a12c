package logo_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"runtime"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/logo"
)

const field = "logo.data"

// pattern has detail everywhere so scaling and JPEG actually have something to work on.
func pattern(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.NRGBA{R: uint8(x * 7), G: uint8(y * 5), B: uint8((x + y) * 3), A: 255})
		}
	}
	return m
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, pattern(w, h)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jpegBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, pattern(w, h), &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gifBytes(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := gif.Encode(&buf, pattern(10, 10), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pngChunk builds a chunk with a correct CRC, so the decoder judges its content, not its framing.
func pngChunk(typ string, data []byte) []byte {
	var c bytes.Buffer
	_ = binary.Write(&c, binary.BigEndian, uint32(len(data)))
	c.WriteString(typ)
	c.Write(data)
	_ = binary.Write(&c, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return c.Bytes()
}

// pngBomb is a real 1x1 PNG whose IHDR claims 20000x20000 with a valid CRC: a decoder trusting
// the header would allocate 1.6 GB before noticing the data is missing.
func pngBomb(t *testing.T) []byte {
	t.Helper()
	b := pngBytes(t, 1, 1)
	// 8-byte signature, then IHDR: length(4) type(4) width(4) height(4) ... CRC at 29.
	binary.BigEndian.PutUint32(b[16:], 20000)
	binary.BigEndian.PutUint32(b[20:], 20000)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// pngWithText inserts a tEXt chunk right after IHDR, the way editors store metadata.
func pngWithText(t *testing.T) []byte {
	t.Helper()
	b := pngBytes(t, 20, 10)
	const afterIHDR = 8 + 25
	out := append([]byte{}, b[:afterIHDR]...)
	out = append(out, pngChunk("tEXt", []byte("Comment\x00secret-metadata"))...)
	return append(out, b[afterIHDR:]...)
}

func TestProcessRaster(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		data          []byte
		wantType      string
		wantW, wantH  int
		wantNotInData string
	}{
		{name: "small PNG keeps its size", data: pngBytes(t, 100, 50), wantType: "image/png", wantW: 100, wantH: 50},
		{name: "PNG exactly MaxWidth is not scaled", data: pngBytes(t, 260, 30), wantType: "image/png", wantW: 260, wantH: 30},
		{name: "wide PNG is scaled to MaxWidth", data: pngBytes(t, 520, 100), wantType: "image/png", wantW: 260, wantH: 50},
		// 333*260/1000 = 86.58, rounded to the nearest pixel.
		{name: "wide JPEG is scaled with rounded height", data: jpegBytes(t, 1000, 333), wantType: "image/jpeg", wantW: 260, wantH: 87},
		{name: "small JPEG keeps its size", data: jpegBytes(t, 64, 64), wantType: "image/jpeg", wantW: 64, wantH: 64},
		{name: "very wide PNG keeps at least one pixel of height", data: pngBytes(t, 5000, 2), wantType: "image/png", wantW: 260, wantH: 1},
		// Names and declared types never reach Process; whatever the caller claims (logo.svg,
		// image/svg+xml), PNG bytes are treated as PNG.
		{name: "PNG bytes are accepted as PNG whatever the caller claims", data: pngBytes(t, 40, 40), wantType: "image/png", wantW: 40, wantH: 40},
		{name: "PNG metadata is stripped", data: pngWithText(t), wantType: "image/png", wantW: 20, wantH: 10, wantNotInData: "secret-metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := logo.Process(t.Context(), field, tt.data)
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if got.ContentType != tt.wantType || got.Width != tt.wantW || got.Height != tt.wantH {
				t.Fatalf("got %s %dx%d, want %s %dx%d", got.ContentType, got.Width, got.Height, tt.wantType, tt.wantW, tt.wantH)
			}
			img, format, err := image.Decode(bytes.NewReader(got.Data))
			if err != nil {
				t.Fatalf("stored data does not decode: %v", err)
			}
			if "image/"+format != tt.wantType {
				t.Errorf("stored data is %s, want %s", format, tt.wantType)
			}
			if b := img.Bounds(); b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Errorf("stored image is %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}
			sum := sha256.Sum256(got.Data)
			if got.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("SHA256 = %s, want digest of Data", got.SHA256)
			}
			if tt.wantNotInData != "" && bytes.Contains(got.Data, []byte(tt.wantNotInData)) {
				t.Errorf("stored data still contains %q", tt.wantNotInData)
			}
		})
	}
}

func TestProcessSVGAccepted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		svg          string
		wantW, wantH int
	}{
		{
			name:  "plain width and height",
			svg:   `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" height="40" fill="#09f"/></svg>`,
			wantW: 120, wantH: 40,
		},
		{
			name: "declaration, comment, px units, gradient and fragment links",
			svg: `<?xml version="1.0" encoding="UTF-8"?>
<!-- exported by an editor -->
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="200px" height="50px">
  <defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient></defs>
  <style>.a { fill: url(#g); } .b { fill: url( "#g" ) }</style>
  <rect id="r" class="a" width="10" height="10" style="stroke: url('#g')"/>
  <use xlink:href="#r" x="20"/>
  <a href="#r"><circle r="3" fill="url(#g)"/></a>
</svg>`,
			wantW: 200, wantH: 50,
		},
		{
			name:  "size from viewBox when width is a percentage",
			svg:   `<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 64.4,32"><g/></svg>`,
			wantW: 64, wantH: 32,
		},
		{
			name:  "no size at all",
			svg:   `<svg xmlns="http://www.w3.org/2000/svg"><g/></svg>`,
			wantW: 0, wantH: 0,
		},
		{
			name:  "no namespace and a byte order mark",
			svg:   "\xef\xbb\xbf<svg width=\"10\" height=\"20\"></svg>",
			wantW: 10, wantH: 20,
		},
		{
			name: "editor metadata and an embedded PNG",
			svg: `<svg xmlns="http://www.w3.org/2000/svg" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
  xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd" sodipodi:docname="C:\logos\a.svg" width="8" height="8">
  <sodipodi:namedview inkscape:zoom="1"/>
  <image width="8" height="8" href="data:image/png;base64,iVBORw0KGgo="/>
</svg>`,
			wantW: 8, wantH: 8,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := logo.Process(t.Context(), field, []byte(tt.svg))
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if got.ContentType != "image/svg+xml" {
				t.Errorf("ContentType = %q, want image/svg+xml", got.ContentType)
			}
			if !bytes.Equal(got.Data, []byte(tt.svg)) {
				t.Errorf("SVG was changed:\n%s", got.Data)
			}
			if got.Width != tt.wantW || got.Height != tt.wantH {
				t.Errorf("size = %dx%d, want %dx%d", got.Width, got.Height, tt.wantW, tt.wantH)
			}
			sum := sha256.Sum256(got.Data)
			if got.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("SHA256 = %s, want digest of Data", got.SHA256)
			}
		})
	}
}

func TestProcessInvalid(t *testing.T) {
	t.Parallel()
	const svgOpen = `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">`
	tooBig := append(pngBytes(t, 1, 1), make([]byte, 3<<20)...)[:3<<20]
	garbled := append([]byte("\x89PNG\r\n\x1a\n"), []byte("this is not a chunk at all, just garbage")...)
	truncated := pngBytes(t, 50, 50)
	truncated = truncated[:len(truncated)-40]

	tests := []struct {
		name  string
		field string
		data  []byte
		want  string
	}{
		{name: "empty", data: nil, want: "is empty"},
		{name: "3 MiB", field: "organization.logo", data: tooBig, want: "is 3.0 MiB; the limit is 2 MiB"},
		{name: "just over the limit never reads as 2.0 MiB", data: make([]byte, logo.MaxBytes+1), want: "is 2.1 MiB"},
		{name: "PNG signature followed by garbage", data: garbled, want: "is a damaged PNG image"},
		{name: "truncated PNG", data: truncated, want: "is a damaged PNG image"},
		{name: "JPEG signature followed by garbage", data: []byte("\xff\xd8\xff\xe0 nope"), want: "is a damaged JPEG image"},
		{name: "PNG header bomb", data: pngBomb(t), want: "is too large: 20000x20000 pixels"},
		{name: "GIF", data: gifBytes(t), want: "is not a PNG, JPEG or SVG image"},
		{name: "PDF", data: []byte("%PDF-1.7\n1 0 obj\n"), want: "is not a PNG, JPEG or SVG image"},
		{name: "plain text", data: []byte("hello, this is my logo"), want: "is not a PNG, JPEG or SVG image"},
		{name: "XML with an html root", data: []byte(`<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>`), want: "is not a PNG, JPEG or SVG image"},
		{name: "svg root in a foreign namespace", data: []byte(`<svg xmlns="urn:not-svg"/>`), want: "is not a PNG, JPEG or SVG image"},
		{name: "malformed XML starting with svg", data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"><g></svg>`), want: "is not a well-formed SVG image"},
		{name: "unterminated svg", data: []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="1`), want: "is not a well-formed SVG image"},
		{name: "non-UTF-8 SVG", data: []byte(`<?xml version="1.0" encoding="ISO-8859-1"?><svg/>`), want: "UTF-8"},
		{name: "two roots", data: []byte(`<svg/><svg/>`), want: "more than one root element"},

		{name: "script", data: []byte(svgOpen + `<script>alert(1)</script></svg>`), want: "SVG contains <script>"},
		{name: "namespaced upper-case script", data: []byte(svgOpen + `<x:SCRIPT xmlns:x="urn:x"/></svg>`), want: "SVG contains <SCRIPT>"},
		{name: "onload attribute", data: []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), want: "event handler attribute onload"},
		{name: "javascript xlink:href", data: []byte(svgOpen + `<a xlink:href="javascript:alert(1)"><text>x</text></a></svg>`), want: "script URL"},
		{name: "javascript href hidden by entities and tabs", data: []byte(svgOpen + `<a href=" &#x09;java&#10;script:alert(1)"/></svg>`), want: "script URL"},
		{name: "external href", data: []byte(svgOpen + `<use href="https://evil.example/x.svg#a"/></svg>`), want: `refers to "https://evil.example/x.svg#a"`},
		{name: "protocol-relative href", data: []byte(svgOpen + `<image href="//evil.example/x.png"/></svg>`), want: "only #fragment links"},
		{name: "relative href", data: []byte(svgOpen + `<image href="x.png"/></svg>`), want: "only #fragment links"},
		{name: "SVG data URL", data: []byte(svgOpen + `<image href="data:image/svg+xml;base64,PHN2Zz4="/></svg>`), want: "only #fragment links"},
		{name: "foreignObject", data: []byte(svgOpen + `<foreignObject><div xmlns="http://www.w3.org/1999/xhtml"/></foreignObject></svg>`), want: "SVG contains <foreignObject>"},
		{name: "HTML element", data: []byte(svgOpen + `<h:img xmlns:h="http://www.w3.org/1999/xhtml" src="x"/></svg>`), want: "HTML element"},
		{name: "DOCTYPE with entity", data: []byte(`<!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg"/>`), want: "DOCTYPE or ENTITY declaration"},
		{name: "xml-stylesheet", data: []byte(`<?xml version="1.0"?><?xml-stylesheet href="https://evil.example/a.css"?><svg/>`), want: "processing instruction <?xml-stylesheet?>"},
		{name: "style element with external url", data: []byte(svgOpen + `<style>rect { fill: url(https://evil.example/p.svg#p) }</style></svg>`), want: "external url()"},
		{name: "style split by a comment", data: []byte(svgOpen + `<style>@im<!-- -->port "https://evil.example/a.css";</style></svg>`), want: `"@import"`},
		{name: "style attribute with external url", data: []byte(svgOpen + `<rect style="fill:URL( 'https://evil.example/p' )"/></svg>`), want: "external url()"},
		{name: "style attribute with expression", data: []byte(svgOpen + `<rect style="width:expression(alert(1))"/></svg>`), want: `"expression("`},
		{name: "CSS escape hiding url", data: []byte(svgOpen + `<rect fill="\75 rl(https://evil.example/p)"/></svg>`), want: "backslash escape"},
		{name: "presentation attribute with external url", data: []byte(svgOpen + `<rect filter="url(https://evil.example/f.svg#f)"/></svg>`), want: "external url()"},
		{name: "set animating href", data: []byte(svgOpen + `<a><set attributeName="xlink:href" to="javascript:alert(1)"/></a></svg>`), want: "animates the xlink:href attribute"},
		{name: "xml:base", data: []byte(svgOpen + `<g xml:base="https://evil.example/"/></svg>`), want: "xml:base"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := tt.field
			if f == "" {
				f = field
			}
			got, err := logo.Process(t.Context(), f, tt.data)
			if err == nil {
				t.Fatalf("Process accepted it as %s", got.ContentType)
			}
			e, ok := apperr.As(err)
			if !ok {
				t.Fatalf("error %v is not an *apperr.Error", err)
			}
			if e.Kind != apperr.KindInvalid || e.Field != f {
				t.Errorf("Kind = %v, Field = %q; want invalid, %q", e.Kind, e.Field, f)
			}
			if !strings.Contains(e.Message, tt.want) {
				t.Errorf("Message = %q, want it to contain %q", e.Message, tt.want)
			}
		})
	}
}

// Not parallel: it reads process-wide allocation counters.
func TestProcessBombDoesNotAllocateTheImage(t *testing.T) {
	bomb := pngBomb(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := logo.Process(t.Context(), field, bomb); err == nil {
		t.Fatal("Process accepted a 20000x20000 header")
	}
	runtime.ReadMemStats(&after)
	// Decoding would need 20000*20000*4 bytes; reading the header needs a few kilobytes.
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("Process allocated %d bytes for a header-only bomb", n)
	}
}
