package logo

import (
	"encoding/binary"
	"errors"
)

// header is what an image's header says decoding it will cost, read before any pixel is decoded.
type header struct {
	width, height int
	bitDepth      int // bits per channel (sample precision for JPEG)
	// decodedBytes is what the Go decoder allocates for this image: the pixels in the color
	// model it decodes into, plus the passes of an interlaced PNG or the coefficients a
	// progressive JPEG keeps for the whole image.
	decodedBytes int64
}

var errHeader = errors.New("logo: unreadable image header")

// pngHeader reads IHDR, which the PNG format requires to be the first chunk (png.DecodeConfig,
// called first, has already checked that and its CRC).
func pngHeader(data []byte) (header, error) {
	// signature(8) length(4) "IHDR"(4) width(4) height(4) depth(1) color(1) compression(1)
	// filter(1) interlace(1)
	if len(data) < 29 || string(data[12:16]) != "IHDR" {
		return header{}, errHeader
	}
	h := header{
		width:    int(binary.BigEndian.Uint32(data[16:20])),
		height:   int(binary.BigEndian.Uint32(data[20:24])),
		bitDepth: int(data[24]),
	}
	// The decoder's image types: gray and paletted are one byte a pixel at 8 bits or less,
	// everything else is (N)RGBA; 16-bit doubles each.
	bpp := int64(4)
	if ct := data[25]; ct == 0 || ct == 3 {
		bpp = 1
	}
	if h.bitDepth > 8 {
		bpp *= 2
	}
	h.decodedBytes = int64(h.width) * int64(h.height) * bpp
	if data[28] == 1 {
		// Adam7: each of the seven passes is decoded into its own image before being merged.
		h.decodedBytes *= 2
	}
	return h, nil
}

// jpegHeader walks the markers up to the frame header (SOFn), which carries the size, the sample
// precision, each component's sampling factors and whether the image is progressive.
func jpegHeader(data []byte) (header, error) {
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return header{}, errHeader
	}
	for i := 2; ; {
		// A marker is 0xff, optionally padded with more 0xff, then a non-0xff code. Stray bytes
		// before it are skipped, as Go's decoder (like libjpeg) does, so that every JPEG it
		// would decode is also judged here.
		for i < len(data) && data[i] != 0xff {
			i++
		}
		for i < len(data) && data[i] == 0xff {
			i++
		}
		if i >= len(data) {
			return header{}, errHeader
		}
		code := data[i]
		i++
		if code == 0x01 || (code >= 0xd0 && code <= 0xd7) {
			continue // standalone markers carry no length
		}
		if i+2 > len(data) {
			return header{}, errHeader
		}
		n := int(binary.BigEndian.Uint16(data[i:]))
		if n < 2 || i+n > len(data) {
			return header{}, errHeader
		}
		seg := data[i+2 : i+n]
		i += n
		if code < 0xc0 || code > 0xcf || code == 0xc4 || code == 0xc8 || code == 0xcc {
			continue // not a frame header (DHT, JPG and DAC share the range)
		}
		return sofHeader(seg, code == 0xc2 || code == 0xc6 || code == 0xca || code == 0xce)
	}
}

func sofHeader(seg []byte, progressive bool) (header, error) {
	if len(seg) < 6 {
		return header{}, errHeader
	}
	h := header{
		bitDepth: int(seg[0]),
		height:   int(binary.BigEndian.Uint16(seg[1:3])),
		width:    int(binary.BigEndian.Uint16(seg[3:5])),
	}
	nc := int(seg[5])
	if nc == 0 || len(seg) < 6+3*nc {
		return header{}, errHeader
	}
	var hmax, vmax, blocks int64 = 1, 1, 0
	for c := range nc {
		f := seg[6+3*c+1]
		hmax, vmax = max(hmax, int64(f>>4)), max(vmax, int64(f&0x0f))
	}
	for c := range nc {
		f := seg[6+3*c+1]
		blocks += int64(f>>4) * int64(f&0x0f)
	}
	px := int64(h.width) * int64(h.height)
	// Samples a pixel over all components, rounded up, as the decoder's planes hold them.
	samples := (px*blocks + hmax*vmax - 1) / (hmax * vmax)
	h.decodedBytes = samples
	if nc == 4 {
		h.decodedBytes += px * 4 // CMYK and YCCK are converted into an image.CMYK besides the planes
	}
	if progressive {
		// Every coefficient of the image is kept until the last scan: 64 int32 per 8x8 block.
		h.decodedBytes += samples * 4
	}
	return h, nil
}
