// Command envcheck runs inside an unpacked image (TestImages) as the image's user, and fails
// unless a Go program there finds what the services rely on: the time zone named by its
// argument and the system's CA certificates.
package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: envcheck ZONE")
		os.Exit(2)
	}
	loc, err := time.LoadLocation(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "time zone:", err)
		os.Exit(1)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool.Equal(x509.NewCertPool()) {
		fmt.Fprintln(os.Stderr, "no system CA certificates:", err)
		os.Exit(1)
	}
	// Winter and summer, so a zone file that loaded but holds nothing still fails.
	winter := time.Date(2025, 1, 15, 12, 0, 0, 0, loc).Format("MST")
	summer := time.Date(2025, 7, 15, 12, 0, 0, 0, loc).Format("MST")
	fmt.Printf("uid %d zone %s %s/%s\n", os.Getuid(), loc, winter, summer)
}
