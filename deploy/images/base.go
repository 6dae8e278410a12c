package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The users a process may be. 65532 is distroless' nonroot, so Kubernetes securityContexts
// written for distroless images fit these too.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
	// Go's resolver reads it to order /etc/hosts before DNS, as glibc would.
	nsswitch = "hosts: files dns\n"
)

// zoneinfoZip is where Go's own time zone database goes when the build machine has no tzdata.
const zoneinfoZip = "usr/share/zoneinfo.zip"

// baseLayer is the layer every image shares (so a node or registry holds it once): the users,
// the CA bundle and the time zones. env is what the image's environment needs for them.
func baseLayer(ctx context.Context, o Options) (layer v1.Layer, env []string, err error) {
	certs, err := os.ReadFile(o.CACertificates)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("no CA certificates at %s: install Debian's ca-certificates package "+
			"(apt-get install ca-certificates) or point -ca-certificates at a PEM bundle", o.CACertificates)
	}
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Contains(certs, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, nil, fmt.Errorf("%s holds no PEM certificate: reinstall Debian's ca-certificates package", o.CACertificates)
	}

	var l tarLayer
	l.file("etc/passwd", 0o644, 0, []byte(passwd))
	l.file("etc/group", 0o644, 0, []byte(group))
	l.file("etc/nsswitch.conf", 0o644, 0, []byte(nsswitch))
	l.file(caPath, 0o644, 0, certs)
	l.dir("home/nonroot", 0o700, nonrootUID)
	// Empty and sticky as on any system, for a volume to be mounted over when something needs
	// scratch space; the services write nothing, so a read-only root filesystem works.
	l.dir("tmp", 0o1777, 0)

	if _, err := os.Stat(filepath.Join(o.Zoneinfo, "Etc", "UTC")); err == nil {
		if err := l.tree("usr/share/zoneinfo", o.Zoneinfo, skipZones); err != nil {
			return nil, nil, fmt.Errorf("time zones from %s: %w", o.Zoneinfo, err)
		}
	} else {
		// No tzdata here: Go's own copy, which the time package reads where ZONEINFO says
		// (a -trimpath binary knows no GOROOT to find it in).
		goroot, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
		if err != nil {
			return nil, nil, fmt.Errorf("no tzdata at %s, and go env GOROOT: %w", o.Zoneinfo, err)
		}
		zip, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "time", "zoneinfo.zip"))
		if err != nil {
			return nil, nil, fmt.Errorf("no tzdata at %s (Debian's tzdata package) and no Go zoneinfo.zip: %w", o.Zoneinfo, err)
		}
		l.file(zoneinfoZip, 0o644, 0, zip)
		env = append(env, "ZONEINFO=/"+zoneinfoZip)
	}
	layer, err = l.layer()
	return layer, env, err
}

// skipZones leaves out what the time package never reads: the leap-second variants (right/,
// half the database) and localtime, a link to the build machine's /etc/localtime.
func skipZones(rel string, d fs.DirEntry) bool {
	return rel == "right" || rel == "localtime"
}

// epoch is every file's time in the layers. A fixed time makes a layer's digest depend on its
// contents alone; the Unix epoch (rather than the commit's time, which the image's created
// carries) keeps the base layer the same from one commit to the next, so nodes and
// registries that hold it already need not fetch it again.
var epoch = time.Unix(0, 0)

// tarLayer writes a layer's tar in memory, deterministically: fixed times and owners, modes
// as given rather than as the build machine has them, entries in the order written, each
// folder once and before its contents.
type tarLayer struct {
	buf  bytes.Buffer
	tw   *tar.Writer
	dirs map[string]bool
	err  error
}

func (l *tarLayer) header(h *tar.Header) {
	if l.err != nil {
		return
	}
	if l.tw == nil {
		l.tw, l.dirs = tar.NewWriter(&l.buf), map[string]bool{}
	}
	l.parents(h.Name)
	h.ModTime, h.Format = epoch, tar.FormatPAX
	if h.Typeflag == tar.TypeDir {
		l.dirs[strings.TrimSuffix(h.Name, "/")] = true
	}
	if l.err == nil {
		l.err = l.tw.WriteHeader(h)
	}
}

// parents writes the folders above name that are not in the layer yet, as root's 0755.
func (l *tarLayer) parents(name string) {
	dir := path.Dir(strings.TrimSuffix(name, "/"))
	if dir == "." || l.dirs[dir] {
		return
	}
	l.parents(dir)
	l.dirs[dir] = true
	if l.err == nil {
		l.err = l.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: epoch,
			Format: tar.FormatPAX})
	}
}

func (l *tarLayer) dir(name string, mode int64, owner int) {
	l.header(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: owner, Gid: owner})
}

func (l *tarLayer) file(name string, mode int64, owner int, data []byte) {
	l.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: owner, Gid: owner, Size: int64(len(data))})
	if l.err == nil {
		_, l.err = l.tw.Write(data)
	}
}

func (l *tarLayer) symlink(name, target string) {
	l.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777})
}

// tree copies the folder src to name: folders, files and relative links (an absolute link
// would point into the build machine), in lexical order, each readable by every user.
func (l *tarLayer) tree(name, src string, skip func(rel string, d fs.DirEntry) bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != "." && skip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		dst := path.Join(name, rel)
		switch {
		case d.IsDir():
			l.dir(dst, 0o755, 0)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if path.IsAbs(target) {
				return fmt.Errorf("%s links outside the folder, to %s", p, target)
			}
			l.symlink(dst, target)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			l.file(dst, 0o644, 0, data)
		default:
			return fmt.Errorf("%s is neither a file, a folder nor a link", p)
		}
		return l.err
	})
}

// layer is the finished tar as a gzip-compressed OCI layer, compressed once and kept (the
// layout, the tarball and the digests all read it). gzip's default level rather than
// go-containerregistry's fastest: a tenth smaller for twice the time, about a second a binary.
func (l *tarLayer) layer() (v1.Layer, error) {
	if l.err != nil {
		return nil, l.err
	}
	if err := l.tw.Close(); err != nil {
		return nil, err
	}
	data := l.buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.DefaultCompression),
		tarball.WithCompressedCaching)
}
