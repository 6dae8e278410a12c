// Package logo turns an uploaded account or organization logo into bytes that are safe to store
// and serve back.
//
// Uploads are judged by their content only: a file name or declared type is whatever the client
// says, and serving bytes under a type the uploader chose is how a "logo" becomes stored
// cross-site scripting. Raster images are decoded and re-encoded, so what is stored is pixels this
// package wrote (no EXIF, text chunks or payload appended after the image). SVG cannot be made
// safe that cheaply, so it is refused rather than cleaned when anything in it could run script or
// fetch something: a cleaner that misses one construct serves the attack, while a refusal only
// costs the uploader an export setting.
package logo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"net/http"
	"strings"

	"golang.org/x/image/draw"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// MaxBytes is the upload limit, 2 MiB.
const MaxBytes = 2 << 20

// MaxWidth is the widest raster logo stored; the UI never shows a logo wider than this, so
// wider uploads are scaled down rather than kept and shipped to every browser.
const MaxWidth = 260

// Decoding allocates the whole image before reading any pixel, and a 2 MiB PNG can claim far more
// than it holds (10000x4000 at 16 bits per channel is 320 MB of pixels in a 311 KB file, and took
// seconds and hundreds of MiB to process). So the header alone decides whether an image is
// decoded at all, and what it may cost is chosen for a logo shown at most 260 px wide:
//
//   - MaxPixels, 4 megapixels (for example 2000x2000 or 2560x1560), is several times the pixels
//     of a 260 px logo on a 3x display; decoding and scaling that many was measured at 35-110 ms
//     and 20-36 MiB allocated (PNG of every color type, JPEG);
//   - MaxBitDepth, 8 bits per channel: browsers show logos at 8 bits, and 16-bit pixels double
//     the memory and leave the scaler's fast paths for its generic, far slower one;
//   - maxDecodedBytes, 32 MiB, bounds what the decoder itself allocates, counting what the pixel
//     count alone misses: interlaced PNG passes and progressive JPEG coefficients;
//   - maxSide keeps the image from being a line a megapixel long.
const (
	MaxPixels       = 4_000_000
	MaxBitDepth     = 8
	maxDecodedBytes = 32 << 20
	maxSide         = 10000
)

// jpegQuality keeps re-encoded logos visually lossless; logos are small, so bytes are cheap.
const jpegQuality = 90

// Logo is a processed, safe-to-serve logo.
type Logo struct {
	ContentType string // "image/png", "image/jpeg" or "image/svg+xml"
	Data        []byte
	// Width and Height are pixels for raster images; for SVG they come from the root's
	// width/height or viewBox when those are plain numbers, else they are 0.
	Width, Height int
	SHA256        string // hex digest of Data, usable as an ETag
}

// Process checks data by content (ignoring any file name or declared type), and returns the logo
// to store. field is the request field name used in errors (e.g. "logo.data").
//
// Every problem with the input is an *apperr.Error of kind Invalid naming field, decided from
// the size and the image header before anything is decoded. Decoding and SVG inspection then run
// under the process-wide limit (decodeSlots): a caller that cannot get a slot in time gets
// Unavailable, or ctx's error. The only other error is an internal fault re-encoding pixels that
// were just decoded.
func Process(ctx context.Context, field string, data []byte) (Logo, error) {
	if len(data) == 0 {
		return Logo{}, apperr.Invalid(field, "is empty")
	}
	if len(data) > MaxBytes {
		return Logo{}, apperr.Invalidf(field, "is %s; the limit is 2 MiB", mebibytes(len(data)))
	}

	var (
		l   Logo
		err error
	)
	// Signatures decide between formats: the decoders are called directly rather than through
	// image.Decode, whose registry is process-wide and would also accept GIF or WebP the moment
	// any other package in the binary imports those decoders.
	switch sniff := http.DetectContentType(data); {
	case sniff == "image/png":
		l, err = processRaster(ctx, field, data, kindPNG)
	case sniff == "image/jpeg":
		l, err = processRaster(ctx, field, data, kindJPEG)
	case strings.HasPrefix(sniff, "text/"):
		// SVG is text; anything sniffed as binary cannot be well-formed XML anyway.
		l, err = processSVG(ctx, field, data)
	default:
		return Logo{}, notSupported(field)
	}
	if err != nil {
		return Logo{}, err
	}
	sum := sha256.Sum256(l.Data)
	l.SHA256 = hex.EncodeToString(sum[:])
	return l, nil
}

func notSupported(field string) error {
	return apperr.Invalid(field, "is not a PNG, JPEG or SVG image")
}

// mebibytes rounds up so that anything over the limit never reads as exactly "2.0 MiB".
func mebibytes(n int) string { return mebibytes64(int64(n)) }

func mebibytes64(n int64) string {
	return fmt.Sprintf("%.1f MiB", math.Ceil(float64(n)*10/(1<<20))/10)
}

type rasterKind int

const (
	kindPNG rasterKind = iota
	kindJPEG
)

func (k rasterKind) name() string {
	if k == kindPNG {
		return "PNG"
	}
	return "JPEG"
}

func (k rasterKind) contentType() string {
	if k == kindPNG {
		return "image/png"
	}
	return "image/jpeg"
}

func (k rasterKind) decodeConfig(r io.Reader) (image.Config, error) {
	if k == kindPNG {
		return png.DecodeConfig(r)
	}
	return jpeg.DecodeConfig(r)
}

func (k rasterKind) header(data []byte) (header, error) {
	if k == kindPNG {
		return pngHeader(data)
	}
	return jpegHeader(data)
}

func (k rasterKind) decode(r io.Reader) (image.Image, error) {
	if k == kindPNG {
		return png.Decode(r)
	}
	return jpeg.Decode(r)
}

func (k rasterKind) encode(w io.Writer, m image.Image) error {
	if k == kindPNG {
		enc := png.Encoder{CompressionLevel: png.BestCompression}
		return enc.Encode(w, m)
	}
	return jpeg.Encode(w, m, &jpeg.Options{Quality: jpegQuality})
}

// processRaster always re-encodes, even when no scaling is needed: that is what strips metadata
// and anything smuggled after the image data. EXIF orientation is not applied, so a photo that
// relied on it is stored as its raw pixels are laid out.
func processRaster(ctx context.Context, field string, data []byte, k rasterKind) (Logo, error) {
	damaged := apperr.Invalidf(field, "is a damaged %s image", k.name())

	// The standard library's DecodeConfig judges the header as the decoder will; the package's
	// own reading of it adds what DecodeConfig does not report (bit depth, interlacing,
	// progressive coding), and the two must agree on the size.
	cfg, err := k.decodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return Logo{}, damaged
	}
	hdr, err := k.header(data)
	if err != nil || hdr.width != cfg.Width || hdr.height != cfg.Height {
		return Logo{}, damaged
	}
	if err := checkHeader(field, k, hdr); err != nil {
		return Logo{}, err
	}

	release, err := acquire(ctx)
	if err != nil {
		return Logo{}, err
	}
	defer release()

	img, err := k.decode(bytes.NewReader(data))
	if err != nil {
		return Logo{}, damaged
	}
	if img.Bounds().Dx() > MaxWidth {
		img = scaleToMaxWidth(img)
	}

	var buf bytes.Buffer
	if err := k.encode(&buf, img); err != nil {
		return Logo{}, fmt.Errorf("logo: re-encode %s: %w", k.name(), err)
	}
	// A tall, noisy image can grow when re-encoded; storing it would defeat the upload limit.
	if buf.Len() > MaxBytes {
		return Logo{}, apperr.Invalidf(field, "is %s once converted; the limit is 2 MiB", mebibytes(buf.Len()))
	}
	b := img.Bounds()
	return Logo{ContentType: k.contentType(), Data: buf.Bytes(), Width: b.Dx(), Height: b.Dy()}, nil
}

// checkHeader refuses, from the header alone, what would cost too much to decode.
func checkHeader(field string, k rasterKind, h header) error {
	// Sides are checked first so the product cannot overflow a 32-bit int.
	if h.width > maxSide || h.height > maxSide || h.width*h.height > MaxPixels {
		return apperr.Invalidf(field,
			"is too large: %dx%d pixels; the limit is %d pixels a side and %d million pixels in all",
			h.width, h.height, maxSide, MaxPixels/1_000_000)
	}
	if h.bitDepth > MaxBitDepth {
		return apperr.Invalidf(field,
			"is a %d-bit %s image; the limit is %d bits per channel (save it as an 8-bit image)",
			h.bitDepth, k.name(), MaxBitDepth)
	}
	if h.decodedBytes > maxDecodedBytes {
		return apperr.Invalidf(field,
			"is too costly to decode: %dx%d pixels in this %s encoding take %s in memory; the limit is %d MiB (use fewer pixels, or a non-interlaced or baseline encoding)",
			h.width, h.height, k.name(), mebibytes64(h.decodedBytes), maxDecodedBytes>>20)
	}
	return nil
}

// scaleToMaxWidth keeps the aspect ratio, rounding the height to the nearest pixel (1000x333
// becomes 260x87, since 333*260/1000 = 86.58) and never below one pixel.
func scaleToMaxWidth(src image.Image) image.Image {
	sb := src.Bounds()
	h := max(int(math.Round(float64(sb.Dy())*MaxWidth/float64(sb.Dx()))), 1)
	r := image.Rect(0, 0, MaxWidth, h)
	// Premultiplied RGBA is what the scaler interpolates correctly (no dark fringes around
	// transparency); grayscale stays grayscale so a gray JPEG does not triple in size.
	var dst draw.Image
	if _, gray := src.(*image.Gray); gray {
		dst = image.NewGray(r)
	} else {
		dst = image.NewRGBA(r)
	}
	draw.CatmullRom.Scale(dst, r, src, sb, draw.Src, nil)
	return dst
}
