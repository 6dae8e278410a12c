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

// Decoding allocates width*height pixels before reading any image data, and a 2 MiB PNG can claim
// far more than it holds; these limits are checked on the header so a forged one costs nothing.
const (
	maxSide   = 10000
	maxPixels = 40_000_000
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
// Every problem with the input is an *apperr.Error of kind Invalid naming field. The only other
// error is an internal fault re-encoding pixels that were just decoded.
func Process(field string, data []byte) (Logo, error) {
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
		l, err = processRaster(field, data, kindPNG)
	case sniff == "image/jpeg":
		l, err = processRaster(field, data, kindJPEG)
	case strings.HasPrefix(sniff, "text/"):
		// SVG is text; anything sniffed as binary cannot be well-formed XML anyway.
		l, err = processSVG(field, data)
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
func mebibytes(n int) string {
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
func processRaster(field string, data []byte, k rasterKind) (Logo, error) {
	damaged := apperr.Invalidf(field, "is a damaged %s image", k.name())

	cfg, err := k.decodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return Logo{}, damaged
	}
	// Sides are checked first so the product cannot overflow a 32-bit int.
	if cfg.Width > maxSide || cfg.Height > maxSide || cfg.Width*cfg.Height > maxPixels {
		return Logo{}, apperr.Invalidf(field,
			"is too large: %dx%d pixels; the limit is %d pixels a side and %d million pixels in all",
			cfg.Width, cfg.Height, maxSide, maxPixels/1_000_000)
	}

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
