// Package images builds Orgplane's container images without a container engine: one OCI image
// per service and the gateway, assembled from scratch with go-containerregistry (a static
// binary, a non-root user, CA certificates and time zone data), written as one OCI image layout
// and as a docker-loadable tarball per image. cmd/images is its command line (make images);
// README.md says how to load or push the result.
package images

import (
	"context"
	"errors"
	"fmt"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// image is one binary of the suite and what its image says about it.
type image struct {
	name   string // the binary, its cmd folder and the image
	module string // the Go module folder, relative to the repository root
	// ports are the defaults the process listens on (its Spec's DefaultGRPCAddr and
	// DefaultAdminAddr; the gateway's HTTP_ADDR, which also serves /metrics); the test
	// TestExposedPortsAreTheDefaults reads them from the sources.
	ports []string
	// commands: the binary takes a command (platform.Main: serve, migrate, version), so the
	// image's CMD is "serve" and a migration Job passes "migrate". The gateway takes none.
	commands bool
}

// catalog is every image, in the order they are written.
func catalog() []image {
	svc := func(name string, grpc, admin string) image {
		return image{name: name, module: "services/" + name, ports: []string{grpc + "/tcp", admin + "/tcp"}, commands: true}
	}
	return []image{
		svc("org", "9101", "9201"),
		svc("mapping", "9102", "9202"),
		svc("integration-sync", "9103", "9203"),
		svc("notification", "9104", "9204"),
		svc("billing", "9105", "9205"),
		{name: "gateway", module: "services/gateway", ports: []string{"8080/tcp"}},
	}
}

// Names are the images' names, in the order Build writes them.
func Names() []string {
	var names []string
	for _, i := range catalog() {
		names = append(names, i.name)
	}
	return names
}

// Options say what to build and where.
type Options struct {
	Root     string    // repository root (the folder holding go.work; FindRoot)
	Out      string    // output folder
	Version  string    // the binaries' version, the tags' and the version label
	Revision string    // the git commit, for the revision label
	Created  time.Time // the images' creation time: the commit's, for reproducible digests
	LDFlags  string    // the version stamp (the Makefile's LDFLAGS); -s -w are added
	Only     []string  // build only these images (Names); all when empty
	Arch     string    // GOARCH; the OS is linux
	// Repository prefixes the tags: <Repository>/<name>:<Version>.
	Repository string
	Source     string // the source label
	Licenses   string // the licenses label (SPDX)
	// CACertificates is the PEM bundle copied in (Debian's ca-certificates package file).
	CACertificates string
	// Zoneinfo is the time zone database copied in (Debian's tzdata); when it is absent, Go's
	// own zoneinfo.zip goes in instead.
	Zoneinfo string
}

// FindRoot walks up from the working directory to the folder holding go.work.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory: run from the repository or pass -root")
		}
		dir = parent
	}
}

// In-image paths and identity.
const (
	binDir      = "/usr/local/bin"
	caPath      = "etc/ssl/certs/ca-certificates.crt"
	nonrootUID  = 65532
	defaultPath = "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
	refNameKey  = "org.opencontainers.image.ref.name"
)

// Built is one image written to the layout and its tarball.
type Built struct {
	Name   string
	Tag    string  // <repository>/<name>:<version>
	Digest v1.Hash // the manifest's, as in the layout and in a registry after a push
	Size   int64   // compressed: config and layers, what a pull transfers at most
}

// Build compiles the selected binaries, assembles their images and writes them to o.Out:
// oci/ (one OCI image layout with every image, each named by its tag in the index's
// org.opencontainers.image.ref.name) and <name>.tar each.
func Build(ctx context.Context, o Options) ([]Built, error) {
	switch {
	case o.Version == "":
		return nil, errors.New("-version is required (make images passes the Makefile's VERSION)")
	case o.Created.IsZero():
		return nil, errors.New("-created is required (or SOURCE_DATE_EPOCH): the commit time, so that the same commit gives the same image digests; make images passes it")
	case o.Root == "" || o.Out == "" || o.Arch == "" || o.Repository == "":
		return nil, errors.New("root, out, arch and repository are required")
	}
	for _, n := range o.Only {
		if !slices.Contains(Names(), n) {
			return nil, fmt.Errorf("-only: no image %q (want %s)", n, strings.Join(Names(), ", "))
		}
	}
	var selected []image
	for _, i := range catalog() {
		if len(o.Only) == 0 || slices.Contains(o.Only, i.name) {
			selected = append(selected, i)
		}
	}
	// What can be refused is checked first, before minutes of compiling: the tags and the CA bundle.
	tags := make([]name.Tag, len(selected))
	for n, i := range selected {
		var err error
		if tags[n], err = name.NewTag(o.Repository + "/" + i.name + ":" + o.Version); err != nil {
			return nil, fmt.Errorf("tag of %s: %w (-version %q must be a valid tag)", i.name, err, o.Version)
		}
	}
	base, baseEnv, err := baseLayer(ctx, o)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "orgplane-images-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	docs, err := compile(ctx, o, selected, tmp)
	if err != nil {
		return nil, err
	}

	// Compressing the binaries' layers (tarLayer.layer) is most of the assembly: one image per
	// core at a time.
	imgs := make([]v1.Image, len(selected))
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for n, i := range selected {
		g.Go(func() error {
			bin, err := os.ReadFile(filepath.Join(tmp, i.name))
			if err != nil {
				return err
			}
			if imgs[n], err = assemble(o, i, docs[n], base, baseEnv, bin); err != nil {
				return fmt.Errorf("image %s: %w", i.name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	if err := writeLayout(filepath.Join(o.Out, "oci"), imgs, tags); err != nil {
		return nil, err
	}
	out := make([]Built, len(selected))
	for n, img := range imgs {
		if err := writeTarball(filepath.Join(o.Out, selected[n].name+".tar"), tags[n], img); err != nil {
			return nil, err
		}
		m, err := img.Manifest()
		if err != nil {
			return nil, err
		}
		size := m.Config.Size
		for _, l := range m.Layers {
			size += l.Size
		}
		d, err := img.Digest()
		if err != nil {
			return nil, err
		}
		out[n] = Built{Name: selected[n].name, Tag: tags[n].String(), Digest: d, Size: size}
	}
	return out, nil
}

// compile builds each binary into dir as the Kubernetes image would: its own module alone
// (GOWORK=off, as make build and make binaries do), static (CGO_ENABLED=0), without the
// builder's paths (-trimpath) or VCS stamp (-buildvcs=false: the version comes from -ldflags,
// and the same commit must give the same bytes), symbols and DWARF stripped (-s -w: a third
// smaller; stack traces and pprof keep working). It returns each command's description, from
// its package doc.
func compile(ctx context.Context, o Options, imgs []image, dir string) ([]string, error) {
	env := append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch)
	docs := make([]string, len(imgs))
	build := func(n int) error {
		i := imgs[n]
		pkg := "./cmd/" + i.name
		moduleDir := filepath.Join(o.Root, i.module)
		synopsis, err := packageDoc(filepath.Join(moduleDir, "cmd", i.name))
		if err != nil {
			return err
		}
		docs[n] = description(i.name, synopsis)
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
			"-ldflags", strings.TrimSpace("-s -w "+o.LDFlags), "-o", filepath.Join(dir, i.name), pkg)
		cmd.Dir, cmd.Env = moduleDir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s in %s: %w\n%s", pkg, i.module, err, out)
		}
		return nil
	}
	// The gateway's binary holds every service's packages (it serves their routes), so it goes
	// first and alone: the others then find their packages in the build cache and only link,
	// rather than all compiling the same packages at once.
	rest := make([]int, 0, len(imgs))
	for n, i := range imgs {
		if i.name == "gateway" && len(imgs) > 1 {
			if err := build(n); err != nil {
				return nil, err
			}
			continue
		}
		rest = append(rest, n)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU()) // links are the work left; more at once only compete for the cores
	for _, n := range rest {
		g.Go(func() error { return build(n) })
	}
	return docs, g.Wait()
}

// packageDoc is the first sentence of the package comment in dir, as go list's .Doc gives it.
func packageDoc(dir string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return "", err
		}
		if file.Doc != nil {
			return new(doc.Package).Synopsis(file.Doc.Text()), nil
		}
	}
	return "", fmt.Errorf("%s: no package comment to describe the image with", dir)
}

// description turns a command's package doc ("Command org runs the org service: the
// registry of ...") into the image's ("The org service: the registry of ...").
func description(name, doc string) string {
	doc = strings.Join(strings.Fields(doc), " ")
	if rest, ok := strings.CutPrefix(doc, "Command "+name+" runs "); ok && rest != "" {
		return strings.ToUpper(rest[:1]) + rest[1:]
	}
	return doc
}

// assemble makes the image: the shared base layer, the binary's layer, and a configuration
// that runs the binary as the non-root user.
func assemble(o Options, i image, doc string, base v1.Layer, baseEnv []string, bin []byte) (v1.Image, error) {
	var app tarLayer
	app.file(strings.TrimPrefix(binDir, "/")+"/"+i.name, 0o755, 0, bin)
	appLayer, err := app.layer()
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.Created}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{Created: created,
			CreatedBy: "deploy/images: /etc/passwd and group (nonroot 65532), CA certificates, time zones",
			Comment:   "shared by every Orgplane image"}},
		mutate.Addendum{Layer: appLayer, MediaType: types.OCILayer, History: v1.History{Created: created,
			CreatedBy: "deploy/images: go build -trimpath ./cmd/" + i.name + " (CGO_ENABLED=0)"}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = created
	cf.OS, cf.Architecture = "linux", o.Arch
	labels := map[string]string{
		"org.opencontainers.image.title":       "Orgplane " + i.name,
		"org.opencontainers.image.description": doc,
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.revision":    o.Revision,
		"org.opencontainers.image.source":      o.Source,
		"org.opencontainers.image.created":     o.Created.Format("2006-01-02T15:04:05Z"),
		"org.opencontainers.image.licenses":    o.Licenses,
	}
	ports := map[string]struct{}{}
	for _, p := range i.ports {
		ports[p] = struct{}{}
	}
	cf.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", nonrootUID, nonrootUID),
		Env:          append([]string{"PATH=" + defaultPath}, baseEnv...),
		Entrypoint:   []string{binDir + "/" + i.name},
		WorkingDir:   "/",
		ExposedPorts: ports,
		Labels:       labels,
	}
	if i.commands {
		cf.Config.Cmd = []string{"serve"}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	// The same words as manifest annotations, which registries and `crane manifest` show
	// without fetching the configuration.
	return mutate.Annotations(img, labels).(v1.Image), nil
}

// writeLayout writes a fresh OCI image layout at path (an earlier one is replaced whole, so
// the index lists exactly this run's images).
func writeLayout(path string, imgs []v1.Image, tags []name.Tag) error {
	tmp := path + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	lp, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", tmp, err)
	}
	for n, img := range imgs {
		// skopeo and containerd find an image of a layout by this name: oci:DIR:orgplane/org:0.1.0.
		ann := map[string]string{refNameKey: tags[n].String()}
		if err := lp.AppendImage(img, layout.WithAnnotations(ann)); err != nil {
			return fmt.Errorf("OCI layout %s: %w", tmp, err)
		}
	}
	// Blobs are written 0600; a layout is for others to read (skopeo, crane, a registry's
	// import) and holds nothing secret.
	blobs := filepath.Join(tmp, "blobs", "sha256")
	entries, err := os.ReadDir(blobs)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Chmod(filepath.Join(blobs, e.Name()), 0o644); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(path); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeTarball writes a `docker load` / `podman load` archive of img tagged tag.
func writeTarball(path string, tag name.Tag, img v1.Image) error {
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tarball %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
