package stack_test

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hostileLogoPNG is the upload of issue 12: a valid 10000x4000 PNG at 16 bits per channel whose
// 320 MB of zero pixels deflate to 311 KB. Processing it took 2.6 to 9.3 s and 300+ MiB; four at
// once gave 504s and 1.5 GB in the org service every tenant shares.
func hostileLogoPNG() []byte {
	const w, h = 10000, 4000
	chunk := func(b *bytes.Buffer, typ string, data []byte) {
		_ = binary.Write(b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	row := make([]byte, 1+w*8)
	for range h {
		_, _ = zw.Write(row)
	}
	_ = zw.Close()
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 16, 6 // 16 bits per channel, RGBA
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk(&b, "IHDR", ihdr)
	chunk(&b, "IDAT", z.Bytes())
	chunk(&b, "IEND", nil)
	return b.Bytes()
}

// One tenant uploading hostile logos as fast as it can must not slow another tenant's requests:
// the victim's latency is measured first alone, then while four clients of the attacker upload the
// issue's PNG in a loop, in the same test and process. The bound is
// generous (a busy machine), and far below what decoding those images did to everyone.
func TestHostileLogoUploadsDoNotSlowOtherTenants(t *testing.T) {
	w := startWorld(t)
	attacker, victim := w.newMSP("Fabrikam Attackers"), w.newMSP("Contoso MSP")
	victimOrg := "/v1/accounts/" + victim.id + "/organizations/" + w.createOrg(victim, victim.adminKey, `{"name":"Northwind Traders"}`)["id"].(string)

	pngBody := `{"data":"` + base64.StdEncoding.EncodeToString(hostileLogoPNG()) + `"}`
	const svgOpen, svgEnd = `<svg xmlns="http://www.w3.org/2000/svg">`, `</svg>`
	n := (2<<20 - len(svgOpen) - len(svgEnd)) / len("<g></g>")
	svgBody := `{"data":"` + base64.StdEncoding.EncodeToString([]byte(svgOpen+strings.Repeat("<g>", n)+strings.Repeat("</g>", n)+svgEnd)) + `"}`
	logoPath := "/v1/accounts/" + attacker.id + "/logo"

	// Each is refused as bad input naming the request field, not processed.
	for name, body := range map[string]string{"PNG": pngBody, "SVG": svgBody} {
		r := w.do("PUT", logoPath, attacker.adminKey, body)
		if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), `"data"`) {
			t.Fatalf("hostile %s logo: %d %s, want 400 naming data", name, r.code, r.body)
		}
	}

	victimLatencies := func(n int) []time.Duration {
		out := make([]time.Duration, 0, n)
		for range n {
			start := time.Now()
			r := w.doQuiet("GET", victimOrg, victim.adminKey, "")
			out = append(out, time.Since(start))
			if r.code != http.StatusOK {
				t.Errorf("victim's GET: %d %s", r.code, r.body)
			}
		}
		slices.Sort(out)
		return out
	}
	const samples = 40
	_ = victimLatencies(5) // warm connections and caches for every measurement alike

	// The victim is measured under two loads of the same shape: four clients posting the hostile
	// PNG, and four posting junk of the same size that is refused without any image work. What
	// the image costs beyond moving its bytes is the difference; under -race and on a shared
	// machine both loads are slow, so only the comparison means anything.
	junk := make([]byte, len(pngBody)*3/4)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	junkBody := `{"data":"` + base64.StdEncoding.EncodeToString(junk) + `"}`
	under := func(body string) ([]time.Duration, int64) {
		var (
			stop     atomic.Bool
			wg       sync.WaitGroup
			refused  atomic.Int64
			failures sync.Map // status -> body, for anything that is not a refusal
		)
		for range 4 { // four at once, as in the issue
			wg.Go(func() {
				for !stop.Load() {
					r := w.doQuiet("PUT", logoPath, attacker.adminKey, body)
					switch r.code {
					case http.StatusBadRequest:
						refused.Add(1)
					case http.StatusTooManyRequests:
						// The attacker's own rate limit: also fine, and also cheap.
					default:
						failures.Store(r.code, string(r.body))
					}
				}
			})
		}
		time.Sleep(200 * time.Millisecond) // let the uploads get going
		loaded := victimLatencies(samples)
		stop.Store(true)
		wg.Wait()
		failures.Range(func(code, body any) bool {
			t.Errorf("upload answered %v: %v", code, body)
			return true
		})
		return loaded, refused.Load()
	}
	junkLoaded, _ := under(junkBody)
	loaded, refused := under(pngBody)
	if refused == 0 {
		t.Fatal("no hostile upload was refused while the victim was measured; the test measured nothing")
	}
	median := func(d []time.Duration) time.Duration { return d[len(d)/2] }
	p90 := func(d []time.Duration) time.Duration { return d[len(d)*9/10] }
	t.Logf("victim GET under same-size junk uploads: median %v p90 %v; under %d hostile PNG uploads: median %v p90 %v",
		median(junkLoaded), p90(junkLoaded), refused, median(loaded), p90(loaded))
	if limit := 2*median(junkLoaded) + 50*time.Millisecond; median(loaded) > limit {
		t.Errorf("victim's median latency under hostile images is %v against %v under junk of the same size, want at most %v",
			median(loaded), median(junkLoaded), limit)
	}
	if limit := 2*p90(junkLoaded) + 150*time.Millisecond; p90(loaded) > limit {
		t.Errorf("victim's p90 latency under hostile images is %v against %v under junk of the same size, want at most %v",
			p90(loaded), p90(junkLoaded), limit)
	}
}
