// Command images builds Orgplane's container images without a container engine (package
// images): one OCI image per service and the gateway, written as an OCI image layout and as a
// docker-loadable tarball each. `make images` runs it with the Makefile's version stamp;
// deploy/images/README.md says how to load or push the result.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orgplane/orgplane/deploy/images"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	start := time.Now()
	built, err := images.Build(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%-18s %-36s %9s  %s\n", "image", "tag", "size", "digest")
	for _, b := range built {
		fmt.Fprintf(stdout, "%-18s %-36s %6.1f MB  %s\n", b.Name, b.Tag, float64(b.Size)/1e6, b.Digest)
	}
	fmt.Fprintf(stdout, "OCI layout %s, tarballs %s/<image>.tar (%s)\n", filepath.Join(o.Out, "oci"), o.Out,
		time.Since(start).Round(time.Second))
	return nil
}

func parseFlags(args []string, output io.Writer) (images.Options, error) {
	var o images.Options
	var created, only string
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&o.Root, "root", "", "repository root; default: the nearest folder above the working directory holding go.work")
	fs.StringVar(&o.Out, "out", ".run/images", "output folder: oci/ (an OCI image layout with every image) and <name>.tar (docker load)")
	fs.StringVar(&o.Version, "version", "", "the version the binaries are stamped with, also the images' tag and version label (required)")
	fs.StringVar(&o.Revision, "revision", "", "the git commit built, for the revision label")
	fs.StringVar(&created, "created", "", "the images' creation time, RFC 3339 (make images passes the last commit's, so a commit always gives the same digests); default $SOURCE_DATE_EPOCH")
	fs.StringVar(&o.LDFlags, "ldflags", "", "linker flags that stamp the version (the Makefile's LDFLAGS); -s -w are added")
	fs.StringVar(&only, "only", "", "build only these images, separated by commas (default all: "+strings.Join(images.Names(), ", ")+")")
	fs.StringVar(&o.Arch, "arch", runtime.GOARCH, "the images' CPU architecture (GOARCH); the OS is linux")
	fs.StringVar(&o.Repository, "repository", "orgplane", "the tags' repository prefix: <repository>/<name>:<version>")
	fs.StringVar(&o.Source, "source", "https://github.com/orgplane/orgplane", "the source label")
	fs.StringVar(&o.Licenses, "licenses", "Apache-2.0", "the licenses label (SPDX; the repository's LICENSE)")
	fs.StringVar(&o.CACertificates, "ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA bundle copied into the images (Debian's ca-certificates package)")
	fs.StringVar(&o.Zoneinfo, "zoneinfo", "/usr/share/zoneinfo", "time zone database copied into the images (Debian's tzdata package); when absent, Go's own zoneinfo.zip goes in instead")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.Created, err = createdTime(created); err != nil {
		return o, err
	}
	if only != "" {
		for n := range strings.SplitSeq(only, ",") {
			o.Only = append(o.Only, strings.TrimSpace(n))
		}
	}
	if o.Root == "" {
		o.Root, err = images.FindRoot()
	}
	return o, err
}

// createdTime reads -created, else SOURCE_DATE_EPOCH (the reproducible-builds convention);
// neither gives the zero time, which Build refuses. There is no fallback to the clock: that
// would give every build new digests.
func createdTime(flagValue string) (time.Time, error) {
	if flagValue != "" {
		t, err := time.Parse(time.RFC3339, flagValue)
		if err != nil {
			return time.Time{}, fmt.Errorf("-created %q: want an RFC 3339 time such as 2025-01-02T03:04:05Z", flagValue)
		}
		return t.UTC(), nil
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		secs, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", s)
		}
		return time.Unix(secs, 0).UTC(), nil
	}
	return time.Time{}, nil
}
