package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The build the test stamps, as the Makefile's LDFLAGS would.
const (
	testVersion  = "9.8.7-test"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
	testCreated  = "2025-01-02T03:04:05Z"
	versionPkg   = "github.com/orgplane/orgplane/pkg/version"
)

// testArgs are cmd/images' arguments for the test's build, as make images passes them.
func testArgs(t *testing.T, out string, more ...string) []string {
	t.Helper()
	root, err := FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	ldflags := "-X " + versionPkg + ".version=" + testVersion + " -X " + versionPkg + ".revision=" + testRevision +
		" -X " + versionPkg + ".modified=false -X " + versionPkg + ".buildTime=" + testCreated
	return append([]string{"-root", root, "-out", out, "-version", testVersion, "-revision", testRevision,
		"-created", testCreated, "-ldflags", ldflags}, more...)
}

// Every image, read back from the layout and from its tarball as a registry or `docker load`
// would, then unpacked and run as its own user: the binary answers --version with the build
// it was given, finds its time zones and CA certificates; and a second build of the same
// inputs gives the same digests.
func TestImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every service binary; skipped with -short")
	}
	images := buildProgram(t)
	out := t.TempDir()
	images(t, testArgs(t, out)...)

	idx, err := layout.ImageIndexFromPath(filepath.Join(out, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != len(catalog()) {
		t.Fatalf("the layout holds %d images, want %d", len(im.Manifests), len(catalog()))
	}
	envcheck := buildEnvcheck(t)
	baseDigests := make([]v1.Hash, len(catalog()))
	t.Run("each", func(t *testing.T) {
		for n, want := range catalog() {
			t.Run(want.name, func(t *testing.T) {
				t.Parallel()
				baseDigests[n] = checkImage(t, idx, im.Manifests[n], filepath.Join(out, want.name+".tar"), want, envcheck)
			})
		}
	})
	for _, d := range baseDigests[1:] {
		if d != baseDigests[0] && d != (v1.Hash{}) { // zero: not checked (go test -run)
			t.Errorf("base layers differ between images (%v): registries and nodes would hold it once per image", baseDigests)
		}
	}

	t.Run("reproducible", func(t *testing.T) {
		again := t.TempDir()
		images(t, testArgs(t, again)...)
		for _, f := range append([]string{"oci/index.json"}, tarballs(Names())...) {
			if a, b := fileSum(t, filepath.Join(out, f)), fileSum(t, filepath.Join(again, f)); a != b {
				t.Errorf("%s differs between two builds of the same inputs", f)
			}
		}
	})

	t.Run("go zoneinfo without tzdata", func(t *testing.T) {
		fallback := t.TempDir()
		images(t, testArgs(t, fallback, "-only", "billing", "-zoneinfo", filepath.Join(fallback, "none"))...)
		ref, _ := name.NewTag("orgplane/billing:" + testVersion)
		img, err := tarball.ImageFromPath(filepath.Join(fallback, "billing.tar"), &ref)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(cfg.Config.Env, "ZONEINFO=/"+zoneinfoZip) {
			t.Errorf("env %q lacks ZONEINFO=/%s", cfg.Config.Env, zoneinfoZip)
		}
		root := t.TempDir()
		headers := unpack(t, img, root)
		billing := catalog()[slices.Index(Names(), "billing")]
		checkFiles(t, root, headers, billing, true)
		t.Run("run", func(t *testing.T) { checkEnvcheck(t, root, cfg.Config.Env, envcheck) })
	})
}

// buildProgram builds cmd/images and returns a function running it as make images does. Run
// apart from the test binary, it compresses at its real speed rather than under -race.
func buildProgram(t *testing.T) func(t *testing.T, args ...string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "images")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/images").CombinedOutput(); err != nil {
		t.Fatalf("build the command: %v\n%s", err, out)
	}
	return func(t *testing.T, args ...string) {
		t.Helper()
		start := time.Now()
		out, err := exec.CommandContext(t.Context(), bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("images %q: %v\n%s", args, err, out)
		}
		t.Logf("built in %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	}
}

// checkImage checks one image as the layout and its tarball hold it, and returns its base
// layer's digest.
func checkImage(t *testing.T, idx v1.ImageIndex, desc v1.Descriptor, tarPath string, want image, envcheck []byte) v1.Hash {
	tag := "orgplane/" + want.name + ":" + testVersion
	if got := desc.Annotations[refNameKey]; got != tag {
		t.Fatalf("layout entry is named %q, want %q", got, tag)
	}
	fromLayout, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	fromTarball, err := tarball.ImageFromPath(tarPath, &ref)
	if err != nil {
		t.Fatalf("the tarball has no %s: %v", tag, err)
	}
	checkConfig(t, fromLayout, want)
	checkConfig(t, fromTarball, want)
	m, err := fromLayout.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(m.Annotations, wantLabels(want)) {
		t.Errorf("manifest annotations %v, want the labels %v", m.Annotations, wantLabels(want))
	}
	// Docker's archive keeps no manifest, so the two are compared by what they hold.
	layerDigests := func(img v1.Image) []v1.Hash {
		ls, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		var ds []v1.Hash
		for _, l := range ls {
			d, err := l.Digest()
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, d)
		}
		return ds
	}
	lc, _ := fromLayout.ConfigName()
	tc, _ := fromTarball.ConfigName()
	ll, tl := layerDigests(fromLayout), layerDigests(fromTarball)
	if lc != tc || !slices.Equal(ll, tl) {
		t.Fatalf("layout and tarball differ: config %s / %s, layers %v / %v", lc, tc, ll, tl)
	}
	if len(ll) != 2 {
		t.Fatalf("%d layers, want the shared base and the binary's", len(ll))
	}

	root := t.TempDir()
	headers := unpack(t, fromTarball, root)
	checkFiles(t, root, headers, want, false)
	t.Run("run", func(t *testing.T) {
		cfg, err := fromTarball.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		got := runInImage(t, root, cfg.Config.Env, append(slices.Clone(cfg.Config.Entrypoint), "--version")...)
		// pkg/version's form: "org 9.8.7-test (rev 0123456, built 2025-01-02T03:04:05Z, go1.26.8)"
		re := regexp.MustCompile(`^` + regexp.QuoteMeta(want.name+" "+testVersion+" (rev "+testRevision[:7]+
			", built "+testCreated+", go") + `[0-9][^)]*\)\n$`)
		if !re.MatchString(got) {
			t.Errorf("--version printed %q, want the service and the build it was given (%s)", got, re)
		}
		t.Logf("--version: %s", strings.TrimSpace(got))
		// The base layer is the same in every image (TestImages checks), so once is enough.
		if want.name == "org" {
			checkEnvcheck(t, root, cfg.Config.Env, envcheck)
		}
	})
	return ll[0]
}

func wantLabels(i image) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "Orgplane " + i.name,
		"org.opencontainers.image.version":     testVersion,
		"org.opencontainers.image.revision":    testRevision,
		"org.opencontainers.image.created":     testCreated,
		"org.opencontainers.image.source":      "https://github.com/orgplane/orgplane",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.description": descriptions[i.name],
	}
}

// descriptions are the commands' package docs as the images put them.
var descriptions = map[string]string{
	"org":              "The org service: the registry of accounts and their client organizations.",
	"mapping":          "The mapping service: links between Orgplane organizations and their twins in integrated tools, and imports.",
	"integration-sync": "The integration-sync service: integrations with IT Glue, ConnectWise PSA and Autotask, their cached external organizations and two-way sync.",
	"notification":     "The notification service: email and in-app notifications about ownership and review changes.",
	"billing":          "The billing service: subscriptions, licenses and usage.",
	"gateway":          "The REST gateway in front of the Orgplane services.",
}

func checkConfig(t *testing.T, img v1.Image, want image) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", c.User)
	}
	if !maps.Equal(c.Labels, wantLabels(want)) {
		t.Errorf("labels %v, want %v", c.Labels, wantLabels(want))
	}
	if ep := []string{"/usr/local/bin/" + want.name}; !slices.Equal(c.Entrypoint, ep) {
		t.Errorf("entrypoint %q, want %q", c.Entrypoint, ep)
	}
	var cmd []string
	if want.name != "gateway" {
		cmd = []string{"serve"}
	}
	if !slices.Equal(c.Cmd, cmd) {
		t.Errorf("cmd %q, want %q", c.Cmd, cmd)
	}
	if !slices.Contains(c.Env, "PATH="+defaultPath) {
		t.Errorf("env %q lacks PATH", c.Env)
	}
	if ports := slices.Sorted(maps.Keys(c.ExposedPorts)); !slices.Equal(ports, want.ports) {
		t.Errorf("exposed ports %q, want %q", ports, want.ports)
	}
	if got := cf.Created.UTC().Format(time.RFC3339); got != testCreated {
		t.Errorf("created %s, want the given %s", got, testCreated)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
}

// unpack writes img's filesystem under root, with its modes and (as root) owners, and returns
// its entries' headers by path.
func unpack(t *testing.T, img v1.Image, root string) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	headers := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rel := filepath.Clean(h.Name)
		if !filepath.IsLocal(rel) {
			t.Fatalf("entry %q leaves the image's root", h.Name)
		}
		headers[filepath.ToSlash(rel)] = h
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				t.Fatal(err)
			}
			continue
		default:
			t.Fatalf("entry %q of unexpected type %q", h.Name, h.Typeflag)
		}
		if err := os.Chmod(p, h.FileInfo().Mode()&(os.ModePerm|os.ModeSticky)); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The image's / is root's 0755 (t.TempDir's 0700 would keep uid 65532 out of everything).
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return headers
}

func checkFiles(t *testing.T, root string, headers map[string]*tar.Header, want image, goZoneinfo bool) {
	t.Helper()
	for p, h := range headers {
		top, _, _ := strings.Cut(p, "/")
		if !slices.Contains([]string{"etc", "home", "tmp", "usr"}, top) {
			t.Errorf("unexpected entry %s", p)
		}
		if h.ModTime.Unix() != 0 {
			t.Errorf("%s has time %s, want the fixed epoch", p, h.ModTime)
		}
	}
	mode := func(p string, m int64, uid int) {
		t.Helper()
		h := headers[p]
		if h == nil {
			t.Errorf("no %s in the image", p)
			return
		}
		if h.Mode != m || h.Uid != uid || h.Gid != uid {
			t.Errorf("%s is %o %d:%d, want %o %d:%d", p, h.Mode, h.Uid, h.Gid, m, uid, uid)
		}
	}
	mode("usr/local/bin/"+want.name, 0o755, 0)
	mode("home/nonroot", 0o700, 65532)
	mode("tmp", 0o1777, 0)
	mode("etc/passwd", 0o644, 0)
	mode(caPath, 0o644, 0)

	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if !strings.Contains(read("etc/passwd"), "\nnonroot:x:65532:65532:nonroot:/home/nonroot:") {
		t.Errorf("/etc/passwd names no nonroot 65532:\n%s", read("etc/passwd"))
	}
	if !strings.Contains(read("etc/group"), "\nnonroot:x:65532:") {
		t.Errorf("/etc/group names no nonroot 65532:\n%s", read("etc/group"))
	}
	hostCerts, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	if read(caPath) != string(hostCerts) {
		t.Errorf("/%s is not the build machine's ca-certificates bundle", caPath)
	}
	if goZoneinfo {
		if headers[zoneinfoZip] == nil || headers["usr/share/zoneinfo"] != nil {
			t.Errorf("want /%s and no /usr/share/zoneinfo", zoneinfoZip)
		}
		return
	}
	for _, p := range []string{"usr/share/zoneinfo/Etc/UTC", "usr/share/zoneinfo/Europe/Paris", "usr/share/zoneinfo/America/New_York"} {
		if h := headers[p]; h == nil || h.Typeflag != tar.TypeReg || h.Size == 0 {
			t.Errorf("no zone file /%s", p)
		}
	}
	if h := headers["usr/share/zoneinfo/US/Eastern"]; h == nil || h.Typeflag != tar.TypeSymlink {
		t.Errorf("/usr/share/zoneinfo/US/Eastern is not the link tzdata has")
	}
	if headers["usr/share/zoneinfo/right"] != nil || headers["usr/share/zoneinfo/localtime"] != nil {
		t.Errorf("right/ or localtime went into the image")
	}
}

// runInImage runs argv inside root as the image's user, as a container runtime would: root
// as /, uid and gid 65532, the image's environment. It needs root for chroot.
func runInImage(t *testing.T, root string, env []string, argv ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running inside the unpacked image needs chroot, which needs root (CI runs as root)")
	}
	cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%q in the image: %v\n%s%s", argv, err, out, stderr.Bytes())
	}
	return string(out)
}

// checkEnvcheck runs testdata/envcheck inside the image: the time zones and CA certificates
// are where Go looks for them, and readable by the image's user.
func checkEnvcheck(t *testing.T, root string, env []string, bin []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(root, "envcheck"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	got := runInImage(t, root, env, "/envcheck", "America/New_York")
	if want := "uid 65532 zone America/New_York EST/EDT\n"; got != want {
		t.Errorf("envcheck printed %q, want %q", got, want)
	}
}

func buildEnvcheck(t *testing.T) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "envcheck")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-o", bin, "./testdata/envcheck")
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build envcheck: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tarballs(names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, n+".tar")
	}
	return out
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// A build machine without the CA bundle is told which package to install, before anything is
// compiled.
func TestMissingCACertificatesNameThePackage(t *testing.T) {
	t.Parallel()
	root, err := FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	_, err = Build(t.Context(), Options{Root: root, Out: out, Version: testVersion, Created: time.Unix(0, 0),
		Arch: runtime.GOARCH, Repository: "orgplane", CACertificates: filepath.Join(out, "none.crt"), Zoneinfo: "/usr/share/zoneinfo"})
	if err == nil || !strings.Contains(err.Error(), "ca-certificates package") {
		t.Fatalf("Build = %v, want an error naming Debian's ca-certificates package", err)
	}
	if _, err := os.Stat(filepath.Join(out, "oci")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a layout was written anyway (%v)", err)
	}
}

// TestExposedPortsAreTheDefaults reads the ports the processes listen on by default from the
// sources (each service's Spec, the gateway's HTTP_ADDR default), so the images cannot drift.
func TestExposedPortsAreTheDefaults(t *testing.T) {
	t.Parallel()
	root, err := FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	portOf := func(addr string) string {
		i := strings.LastIndex(addr, ":")
		if _, err := strconv.Atoi(addr[i+1:]); i < 0 || err != nil {
			t.Fatalf("%q has no port", addr)
		}
		return addr[i+1:] + "/tcp"
	}
	tagDefault := regexp.MustCompile(`default:([^,"]*)`)
	for _, img := range catalog() {
		files, err := filepath.Glob(filepath.Join(root, img.module, "*svc", "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		var found []string
		fset := token.NewFileSet()
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.KeyValueExpr: // platform.Spec{DefaultGRPCAddr: ":9101", ...}
					key, ok := n.Key.(*ast.Ident)
					lit, isLit := n.Value.(*ast.BasicLit)
					if ok && isLit && (key.Name == "DefaultGRPCAddr" || key.Name == "DefaultAdminAddr") {
						s, _ := strconv.Unquote(lit.Value)
						found = append(found, portOf(s))
					}
				case *ast.Field: // the gateway's HTTPAddr `conf:"env:HTTP_ADDR,default::8080,..."`
					if len(n.Names) == 1 && n.Names[0].Name == "HTTPAddr" && n.Tag != nil {
						if m := tagDefault.FindStringSubmatch(n.Tag.Value); m != nil {
							found = append(found, portOf(m[1]))
						}
					}
				}
				return true
			})
		}
		slices.Sort(found)
		if !slices.Equal(found, img.ports) {
			t.Errorf("%s: the sources listen on %q by default, the image exposes %q", img.name, found, img.ports)
		}
	}
}

// The Dockerfile builds the same images for those with Docker (no daemon runs here to build
// it): each service's stage has the entrypoint, command, ports and description of the image
// make images assembles, and its build step knows every service.
func TestDockerfileMatchesTheImages(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string][]string{}
	var stage string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "FROM "); ok {
			_, stage, _ = strings.Cut(rest, " AS ")
			continue
		}
		stages[stage] = append(stages[stage], line)
	}
	if !slices.Contains(stages["build"], `org|mapping|integration-sync|notification|billing|gateway) ;; \`) {
		t.Errorf("the build stage's SERVICE check does not list every image, in catalog order")
	}
	for _, img := range catalog() {
		lines := stages[img.name]
		if lines == nil {
			t.Errorf("no stage %q", img.name)
			continue
		}
		want := []string{
			`LABEL org.opencontainers.image.description="` + descriptions[img.name] + `"`,
			`ENTRYPOINT ["/usr/local/bin/` + img.name + `"]`,
			"EXPOSE " + strings.Join(img.ports, " "),
		}
		if img.commands {
			want = append(want, `CMD ["serve"]`)
		}
		for _, w := range want {
			if !slices.Contains(lines, w) {
				t.Errorf("stage %s lacks %s", img.name, w)
			}
		}
		if !img.commands && slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "CMD") }) {
			t.Errorf("stage %s has a CMD, but %s takes no command", img.name, img.name)
		}
	}
}
