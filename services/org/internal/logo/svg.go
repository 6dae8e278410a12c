package logo

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/orgplane/orgplane/pkg/apperr"
)

const (
	svgNS   = "http://www.w3.org/2000/svg"
	xhtmlNS = "http://www.w3.org/1999/xhtml"
	xmlNS   = "http://www.w3.org/XML/1998/namespace"
)

// maxSVGDepth bounds element nesting. The decoder keeps a stack entry (with its names and
// namespace bindings) per open element, so 2 MiB of "<g>" would otherwise be a million-deep
// stack; logos drawn by editors nest a few dozen levels at most.
const maxSVGDepth = 256

// maxSVGSize bounds the reported size; a bigger number is nonsense rather than a size.
const maxSVGSize = 1_000_000

// processSVG stores the original bytes once every token has passed: the checks refuse rather
// than rewrite, so there is no re-serialisation whose output could differ from what was checked.
// It runs under a decode slot like raster decoding: walking 2 MiB of tokens costs tens of
// milliseconds of CPU, which a burst of uploads must not multiply across every core.
func processSVG(ctx context.Context, field string, data []byte) (Logo, error) {
	release, err := acquire(ctx)
	if err != nil {
		return Logo{}, err
	}
	defer release()
	w, h, err := inspectSVG(field, data)
	if err != nil {
		return Logo{}, err
	}
	return Logo{ContentType: "image/svg+xml", Data: data, Width: w, Height: h}, nil
}

// inspectSVG walks every token. Until the root element is seen the input may not be SVG at all,
// so a problem found in the prolog is held back: a DOCTYPE in front of <html> is "not an image",
// the same DOCTYPE in front of <svg> is a refused SVG.
func inspectSVG(field string, data []byte) (width, height int, err error) {
	refuse := func(format string, args ...any) error { return apperr.Invalidf(field, format, args...) }

	body := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true

	var (
		rootSeen      bool
		prologProblem error
		depth         int
		styleDepth    int // >0 inside <style>; its text is checked as one sheet when it closes
		css           strings.Builder
	)
	for {
		offset := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !rootSeen && !bytes.Contains(body, []byte("<svg")) {
				return 0, 0, notSupported(field)
			}
			return 0, 0, malformedSVG(field, err)
		}

		switch t := tok.(type) {
		case xml.StartElement:
			if !rootSeen {
				if t.Name.Local != "svg" || (t.Name.Space != "" && t.Name.Space != svgNS) {
					return 0, 0, notSupported(field)
				}
				if prologProblem != nil {
					return 0, 0, prologProblem
				}
				rootSeen = true
				width, height = svgSize(t)
			} else if depth == 0 {
				return 0, 0, refuse("is not a well-formed SVG image: it has more than one root element")
			}
			depth++
			if depth > maxSVGDepth {
				return 0, 0, refuse("SVG nests elements more than %d deep", maxSVGDepth)
			}
			if err := checkElement(field, t); err != nil {
				return 0, 0, err
			}
			if styleDepth > 0 || strings.EqualFold(t.Name.Local, "style") {
				styleDepth++
			}

		case xml.EndElement:
			depth--
			if styleDepth > 0 {
				styleDepth--
				if styleDepth == 0 {
					if msg := checkCSS(css.String()); msg != "" {
						return 0, 0, refuse("SVG <style> %s", msg)
					}
					css.Reset()
				}
			}

		case xml.CharData:
			// Comments and CDATA boundaries split a stylesheet into several tokens, but the
			// browser sees the concatenation, so that is what gets checked.
			if styleDepth > 0 {
				css.Write(t)
			} else if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				if !rootSeen {
					return 0, 0, notSupported(field)
				}
				return 0, 0, refuse("is not a well-formed SVG image: it has text after the closing </svg>")
			}

		case xml.ProcInst:
			// Only the XML declaration, and only where XML allows it; anything else (such as
			// <?xml-stylesheet?>) can pull in an external stylesheet.
			if t.Target == "xml" && offset == 0 {
				continue
			}
			e := refuse("SVG contains the processing instruction <?%s?>; processing instructions are not allowed", t.Target)
			if rootSeen {
				return 0, 0, e
			}
			if prologProblem == nil {
				prologProblem = e
			}

		case xml.Directive:
			// encoding/xml does not expand DTD entities, but a browser does: refusing every
			// declaration rules out entity bombs and external entities in whatever renders it.
			e := refuse("SVG contains a DOCTYPE or ENTITY declaration; these are not allowed")
			if rootSeen {
				return 0, 0, e
			}
			if prologProblem == nil {
				prologProblem = e
			}
		}
	}
	if !rootSeen {
		return 0, 0, notSupported(field)
	}
	return width, height, nil
}

func malformedSVG(field string, err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return apperr.Invalidf(field, "is not a well-formed SVG image: %s (line %d)", se.Msg, se.Line)
	}
	// The only other decoder error on in-memory input is a declared non-UTF-8 encoding.
	return apperr.Invalid(field, "is not a UTF-8 encoded SVG image")
}

// blockedElement reports elements that run script, embed other documents or change where URLs
// resolve. It takes the lower-cased local name in any namespace, because a browser given
// <html:script> or <SCRIPT> in the wrong context is not something to reason about.
func blockedElement(local string) bool {
	switch local {
	case "script", "foreignobject", "iframe", "frame", "embed", "object", "applet",
		"handler", "listener", "base", "link", "meta":
		return true
	}
	return false
}

// animationElement reports elements that can set an attribute at run time, so <set
// attributeName="href" to="javascript:..."> would bypass the checks on the attribute itself.
func animationElement(local string) bool {
	switch local {
	case "set", "animate", "animatecolor", "animatemotion", "animatetransform":
		return true
	}
	return false
}

func checkElement(field string, el xml.StartElement) error {
	refuse := func(format string, args ...any) error { return apperr.Invalidf(field, format, args...) }

	name := el.Name.Local
	local := asciiLower(name)
	// encoding/xml leaves a name with several colons whole; a namespace-aware browser rejects
	// it, but it must not slip past the local-name checks either.
	if strings.Contains(name, ":") {
		return refuse("SVG contains the malformed element name <%s>", name)
	}
	if blockedElement(local) {
		return refuse("SVG contains <%s>; scripts and external references are not allowed", name)
	}
	if el.Name.Space == xhtmlNS {
		return refuse("SVG contains the HTML element <%s>; embedded HTML is not allowed", name)
	}

	for _, a := range el.Attr {
		aname := a.Name.Local
		alocal := asciiLower(aname)
		if strings.Contains(aname, ":") {
			return refuse("SVG contains the malformed attribute name %s on <%s>", aname, name)
		}
		// Namespace declarations are never fetched or run; their values are just identifiers.
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && aname == "xmlns") {
			continue
		}
		if strings.HasPrefix(alocal, "on") {
			return refuse("SVG contains the event handler attribute %s on <%s>; scripts are not allowed", aname, name)
		}
		if alocal == "base" && (a.Name.Space == "xml" || a.Name.Space == xmlNS) {
			return refuse("SVG sets xml:base on <%s>; external references are not allowed", name)
		}
		if animationElement(local) && alocal == "attributename" {
			target := asciiLower(strings.TrimSpace(a.Value))
			if _, after, ok := strings.Cut(target, ":"); ok {
				target = after
			}
			if target == "href" || target == "src" || target == "style" || strings.HasPrefix(target, "on") {
				return refuse("SVG animates the %s attribute of <%s>; scripts and external references are not allowed", a.Value, name)
			}
		}

		v := normalizeURL(a.Value)
		if strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "vbscript:") {
			return refuse("SVG contains a script URL in %s on <%s>; scripts are not allowed", aname, name)
		}
		switch {
		case alocal == "href" || alocal == "src":
			if !allowedRef(v) {
				return refuse("SVG on <%s> refers to %q; only #fragment links and embedded PNG or JPEG data are allowed",
					name, truncate(strings.TrimSpace(a.Value), 60))
			}
		case alocal == "style" && a.Name.Space == "":
			if msg := checkCSS(a.Value); msg != "" {
				return refuse("SVG style attribute on <%s> %s", name, msg)
			}
		case a.Name.Space == "":
			// Presentation attributes (fill, filter, mask, ...) are parsed as CSS values, so a
			// url() or an escaped u\rl() in them fetches just as it would in a stylesheet.
			if msg := checkCSSURLs(asciiLower(a.Value)); msg != "" {
				return refuse("SVG attribute %s on <%s> %s", aname, name, msg)
			}
		}
	}
	return nil
}

// normalizeURL does what a URL parser does before looking at the scheme: it ignores tabs and
// newlines anywhere and control characters or spaces at either end. Entities such as &#x09; are
// already decoded by encoding/xml.
func normalizeURL(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	return asciiLower(s)
}

// allowedRef takes a normalised href. Anything but an in-document fragment or inline PNG/JPEG
// data either runs script (javascript:, data:image/svg+xml, data:text/html) or fetches something.
func allowedRef(v string) bool {
	if v == "" || strings.HasPrefix(v, "#") {
		return true
	}
	for _, p := range []string{"data:image/png;", "data:image/png,", "data:image/jpeg;", "data:image/jpeg,"} {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

// checkCSS returns what is wrong with a stylesheet or style attribute, or "". It matches text
// rather than parsing CSS: comments are deliberately not stripped, since a comment marker inside
// a string would make a stripper hide real code, and a comment cannot join tokens such as
// "@im/**/port" back together.
func checkCSS(css string) string {
	s := asciiLower(css)
	for _, bad := range []string{"javascript:", "vbscript:", "expression(", "@import", "image-set(", "image(", "src("} {
		if strings.Contains(s, bad) {
			return fmt.Sprintf("contains %q; scripts and external references are not allowed", bad)
		}
	}
	return checkCSSURLs(s)
}

// checkCSSURLs takes lower-cased CSS text and allows url() only for in-document references.
// Backslash escapes are refused outright: CSS decodes them before recognising url(, so
// "\75 rl(" would otherwise be a url( this check never sees.
func checkCSSURLs(s string) string {
	if strings.Contains(s, `\`) {
		return "uses a backslash escape; CSS escapes are not allowed"
	}
	rest := s
	for {
		_, after, found := strings.Cut(rest, "url(")
		if !found {
			return ""
		}
		target := strings.TrimLeft(after, " \t\n\r\f\"'")
		if !strings.HasPrefix(target, "#") {
			return "refers to an external url(); only url(#...) references are allowed"
		}
		rest = after
	}
}

// svgSize prefers width/height when both are plain numbers (optionally px), else the viewBox.
func svgSize(root xml.StartElement) (int, int) {
	var w, h, viewBox string
	for _, a := range root.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "width":
			w = a.Value
		case "height":
			h = a.Value
		case "viewBox":
			viewBox = a.Value
		}
	}
	if wv, ok := svgLength(w); ok {
		if hv, ok := svgLength(h); ok {
			return wv, hv
		}
	}
	f := strings.FieldsFunc(viewBox, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if len(f) == 4 {
		if wv, ok := svgLength(f[2]); ok {
			if hv, ok := svgLength(f[3]); ok {
				return wv, hv
			}
		}
	}
	return 0, 0
}

func svgLength(s string) (int, bool) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "px")
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v <= 0 || v > maxSVGSize {
		return 0, false
	}
	return max(int(math.Round(v)), 1), true
}

// asciiLower folds only ASCII: Unicode case folding maps characters such as the Kelvin sign to
// ASCII letters, which could turn a string no browser treats as a scheme into an allowed one.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}
