package stack_test

import (
	"net/http"
	"sync"
	"testing"
)

// Concurrent uploads of the account logo (which has no row to lock first) all succeed: the last
// one wins, none is a 500 from a unique violation.
func TestConcurrentAccountLogoUploadsNeverFail(t *testing.T) {
	w := startWorldWithoutEventTap(t)
	a := w.newMSP("Contoso MSP")
	body := matrixLogo()
	var wg sync.WaitGroup
	codes := make(chan int, 40)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				codes <- w.doQuiet("PUT", "/v1/accounts/"+a.id+"/logo", a.adminKey, body).code
			}
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Fatalf("a concurrent logo upload got %d", c)
		}
	}
}
