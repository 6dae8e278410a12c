package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/devstack/stack"
)

// readmeMinBlocks is the fewest command blocks TestReadmeCommandsRunAsWritten must run, so that a
// parser that stopped finding blocks cannot pass. Adding blocks to the README needs no change
// here; removing some means lowering it on purpose.
const readmeMinBlocks = 5

// readmeQuietPeriod is how long the stack must have run before its log is judged clean: the
// longest grace a start-up condition gets before it is logged as a warning (30 s for a consumer
// waiting for its producer's stream, 15 s for a service not yet ready), and a little more.
const readmeQuietPeriod = 35 * time.Second

// TestReadmeCommandsRunAsWritten runs every command block of README.md against the dev stack
// binary started as `make run` starts it, so that the README cannot drift from the API again
// (issue 17). Blocks run in README order, one bash session per section (variables carry within
// a section), under `set -euo pipefail`; every block must exit 0, and every curl must carry -f
// so that an error status fails it. The stack listens on free ports with its state in a
// temporary folder; the ONE change made to the commands is that make run's default addresses
// (read from `devstack -help`) and its state folder `.run` are replaced by this stack's. A
// block the test cannot run must say why in a `<!-- readme-test: skip — reason -->` comment
// just above it; any other command block, or a fence without a language, fails the test.
//
// It also holds issue 17's "a clean start logs no warnings": the stack's log, from start until
// the commands are done and the start-up graces have passed, must hold no WARN or ERROR record.
func TestReadmeCommandsRunAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole dev stack")
	}
	src, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, problems := parseReadme(string(src))
	for _, p := range problems {
		t.Errorf("README.md: %s", p)
	}
	var run []readmeBlock
	for _, b := range blocks {
		if b.command() && b.skip == "" {
			run = append(run, b)
		}
	}
	if len(run) < readmeMinBlocks {
		t.Fatalf("found %d command blocks to run in README.md, want at least %d (readmeMinBlocks)", len(run), readmeMinBlocks)
	}
	for _, b := range run {
		for _, p := range curlWithoutFail(b.commands()) {
			t.Errorf("README.md line %d: %q must fail on an error status: give curl -f (curl -fsS)", b.line, p)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	grpcurl := readmeGrpcurl(t, string(src))

	dir := t.TempDir()
	bin := filepath.Join(dir, "devstack")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	defaults := readmeDefaults(t, bin)
	state := filepath.Join(dir, "state")
	names := make([]string, 0, len(defaults))
	for name := range defaults {
		names = append(names, regexp.QuoteMeta(name))
	}
	s := startReadmeStack(t, bin, state, names)

	// make run's default address of each part → this stack's.
	addrs := map[string]string{}
	ours := map[string]bool{}
	for name, def := range defaults {
		got, ok := s.addrs[name]
		if !ok {
			t.Fatalf("the banner shows no %s; it lists %v", name, s.addrs)
		}
		addrs[def] = got
		ours[got] = true
	}

	env := []string{"PATH=" + filepath.Dir(grpcurl) + string(os.PathListSeparator) + os.Getenv("PATH")}
	for _, kv := range os.Environ() {
		// The reader's shell after make run: none of this test's own settings leak in.
		if k, _, _ := strings.Cut(kv, "="); k != "PATH" && k != "DATABASE_URL" && !strings.HasPrefix(k, "ORGPLANE_") {
			env = append(env, kv)
		}
	}
	var sections [][]readmeBlock
	for i, b := range run {
		if i == 0 || b.sectionAt != run[i-1].sectionAt {
			sections = append(sections, nil)
		}
		sections[len(sections)-1] = append(sections[len(sections)-1], b)
	}
	ran := 0
	for _, blocks := range sections {
		ran += runReadmeSection(t, repo, dir, env, blocks, addrs, ours, state)
	}
	if ran < readmeMinBlocks {
		t.Errorf("ran %d README blocks to the end, want at least %d", ran, readmeMinBlocks)
	}

	if wait := readmeQuietPeriod - time.Since(s.started); wait > 0 {
		time.Sleep(wait)
	}
	for _, rec := range loudRecords(t, s.logPath) {
		t.Errorf("the dev stack logged at %s on a clean start and the README's commands: %s", rec.level, rec.line)
	}
	s.stop(t)
}

// readmeBlock is one fenced block of the README.
type readmeBlock struct {
	line      int // of the opening fence, 1-based
	lang      string
	text      string
	section   string
	sectionAt int    // the line of the section's heading: one shell session each
	skip      string // the marker's reason; empty when the block is to run
}

// command says whether the block holds shell commands (as opposed to output, diagrams, code).
func (b readmeBlock) command() bool {
	switch b.lang {
	case "sh", "bash", "shell", "zsh", "console":
		return true
	}
	return false
}

// commands is what a reader would paste: the block itself, or a console block's `$ ` lines.
func (b readmeBlock) commands() string {
	if b.lang != "console" {
		return b.text
	}
	var out []string
	continued := false
	for _, l := range strings.Split(b.text, "\n") {
		switch {
		case continued:
			out = append(out, l)
		case strings.HasPrefix(l, "$ "):
			out = append(out, strings.TrimPrefix(l, "$ "))
		default:
			continue
		}
		continued = strings.HasSuffix(l, `\`)
	}
	return strings.Join(out, "\n")
}

var (
	skipMarker = regexp.MustCompile(`^<!--\s*readme-test:\s*skip\s*(?:—|–|-|:)?\s*(.*?)\s*-->$`)
	heading    = regexp.MustCompile(`^#{1,6}\s+(.*)$`)
)

// parseReadme lists the README's fenced blocks with their section and skip marker, and the
// problems that would let a command escape the test: a fence with no language, a marker with
// no reason or not just above a command block, an unclosed fence.
func parseReadme(src string) (blocks []readmeBlock, problems []string) {
	section, sectionAt := "(before the first heading)", 0
	var open *readmeBlock
	var body []string
	skip, skipLine := "", 0
	for i, raw := range strings.Split(src, "\n") {
		n := i + 1
		line := strings.TrimSpace(raw)
		if open != nil {
			if line == "```" {
				open.text = strings.Join(body, "\n")
				blocks = append(blocks, *open)
				open, body = nil, nil
				continue
			}
			body = append(body, raw)
			continue
		}
		switch {
		case strings.HasPrefix(line, "```"):
			fields := strings.Fields(strings.TrimPrefix(line, "```"))
			b := readmeBlock{line: n, section: section, sectionAt: sectionAt}
			if len(fields) == 0 {
				problems = append(problems, fmt.Sprintf("line %d: a fence with no language; label it (sh for commands, text for output)", n))
			} else {
				b.lang = fields[0]
			}
			if skipLine != 0 {
				if !b.command() {
					problems = append(problems, fmt.Sprintf("line %d: a readme-test skip marker above a %q block, which is not run anyway", skipLine, b.lang))
				}
				b.skip, skip, skipLine = skip, "", 0
			}
			open = &b
		case strings.HasPrefix(line, "<!--") && strings.Contains(line, "readme-test"):
			m := skipMarker.FindStringSubmatch(line)
			switch {
			case m == nil:
				problems = append(problems, fmt.Sprintf("line %d: malformed marker %q; write <!-- readme-test: skip — reason -->", n, line))
			case m[1] == "":
				problems = append(problems, fmt.Sprintf("line %d: a readme-test skip marker must say why the block cannot run", n))
			default:
				skip, skipLine = m[1], n
			}
		case skipLine != 0 && line != "":
			problems = append(problems, fmt.Sprintf("line %d: the readme-test skip marker must sit just above the command block it skips", skipLine))
			skip, skipLine = "", 0
			if m := heading.FindStringSubmatch(line); m != nil {
				section, sectionAt = m[1], n
			}
		default:
			if m := heading.FindStringSubmatch(line); m != nil {
				section, sectionAt = m[1], n
			}
		}
	}
	if open != nil {
		problems = append(problems, fmt.Sprintf("line %d: the fence is never closed", open.line))
	}
	if skipLine != 0 {
		problems = append(problems, fmt.Sprintf("line %d: a readme-test skip marker with no block under it", skipLine))
	}
	return blocks, problems
}

var (
	curlCall = regexp.MustCompile(`(?:^|[\s;|&(])curl\s[^;|&)]*`)
	curlFail = regexp.MustCompile(`\s(?:-[A-Za-z]*f[A-Za-z]*|--fail|--fail-with-body)(?:\s|$)`)
)

// curlWithoutFail returns each curl call of a block that would exit 0 on an error status.
func curlWithoutFail(text string) []string {
	joined := strings.ReplaceAll(text, "\\\n", " ")
	var bad []string
	for _, call := range curlCall.FindAllString(joined, -1) {
		if !curlFail.MatchString(call + " ") {
			bad = append(bad, strings.TrimSpace(call))
		}
	}
	return bad
}

var (
	loopbackAddr = regexp.MustCompile(`(?:127\.0\.0\.1|localhost|\[::1\]|0\.0\.0\.0):\d+`)
	stateFolder  = regexp.MustCompile(`(^|[\s"'=(:])\.run(/|$|[\s"');&|])`)
)

// rewriteReadme is the one change made to a README command: make run's default addresses and
// state folder become this stack's.
func rewriteReadme(cmd string, addrs map[string]string, state string) string {
	cmd = loopbackAddr.ReplaceAllStringFunc(cmd, func(a string) string {
		if to, ok := addrs[a]; ok {
			return to
		}
		return a
	})
	return stateFolder.ReplaceAllString(cmd, "${1}"+state+"${2}")
}

// runReadmeSection runs a section's blocks in one bash session and returns how many ran to the
// end.
func runReadmeSection(t *testing.T, repo, dir string, env []string, blocks []readmeBlock,
	addrs map[string]string, ours map[string]bool, state string) int {
	t.Helper()
	section := blocks[0].section
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, b := range blocks {
		cmd := rewriteReadme(b.commands(), addrs, state)
		for _, a := range loopbackAddr.FindAllString(cmd, -1) {
			if !ours[a] {
				t.Errorf("README.md line %d names %s, which is none of make run's default addresses: the test cannot point it at its stack", b.line, a)
				return 0
			}
		}
		// Progress goes to descriptor 3, so a failure is put down to its block.
		fmt.Fprintf(&script, "%s\necho %d >&3\n", cmd, b.line)
	}
	progressPath := filepath.Join(dir, "progress")
	progress, err := os.Create(progressPath)
	if err != nil {
		t.Fatal(err)
	}
	defer progress.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir, cmd.Env = repo, env
	cmd.ExtraFiles = []*os.File{progress}
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	done, _ := os.ReadFile(progressPath)
	finished := strings.Fields(string(done))
	if runErr != nil {
		failed := blocks[min(len(finished), len(blocks)-1)]
		t.Errorf("README section %q, block at line %d: %v\ncommands as run:\n%s\noutput:\n%s", section, failed.line, runErr,
			rewriteReadme(failed.commands(), addrs, state), out.String())
	} else {
		t.Logf("README section %q: %d blocks ran", section, len(blocks))
	}
	return len(finished)
}

// readmeDefaults reads make run's default address of each part the banner lists from the
// binary's own -help, so that the README and the flags cannot disagree unnoticed.
func readmeDefaults(t *testing.T, bin string) map[string]string {
	t.Helper()
	out, err := exec.Command(bin, "-help").Output()
	if err != nil {
		t.Fatalf("devstack -help: %v", err)
	}
	flags := map[string]string{}
	var name string
	def := regexp.MustCompile(`\(default "?([^")]*)"?\)`)
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "-") && strings.HasPrefix(l, "  -") {
			name = strings.TrimPrefix(f[0], "-")
		}
		if m := def.FindStringSubmatch(l); m != nil && name != "" {
			flags[name] = m[1]
		}
	}
	host := flags["host"]
	port := func(flag string, offset int) string {
		p, err := strconv.Atoi(flags[flag])
		if err != nil {
			t.Fatalf("devstack -help gives no default port for -%s: %q", flag, flags[flag])
		}
		return fmt.Sprintf("%s:%d", host, p+offset)
	}
	if host == "" || flags["state"] != ".run" {
		t.Fatalf("devstack -help: default host %q and state %q; the README test expects a host and .run", host, flags["state"])
	}
	d := map[string]string{
		"REST gateway":  port("gateway-port", 0),
		"metrics":       port("admin-port", 0),
		"NATS":          port("nats-port", 0),
		"mail inbox":    port("mail-port", 0),
		"SMTP":          port("smtp-port", 0),
		"OIDC provider": port("oidc-port", 0),
	}
	for i, s := range stack.Specs(nil) {
		d[s.Name] = port("service-base-port", i)
	}
	for i, sim := range []string{"itglue", "connectwise", "autotask", "generic"} {
		d[sim] = port("simulator-base-port", i)
	}
	return d
}

type readmeStack struct {
	cmd     *exec.Cmd
	addrs   map[string]string // host:port by the banner's name for it
	logPath string
	started time.Time // when the banner was complete
	exited  chan error
}

// startReadmeStack runs the dev stack binary as make run does (a private PostgreSQL cluster, as
// on a machine with none), every port free, and reads the banner.
func startReadmeStack(t *testing.T, bin, state string, names []string) *readmeStack {
	t.Helper()
	cmd := exec.Command(bin, "-postgres", "private", "-state", state,
		"-gateway-port", "0", "-service-base-port", "0", "-admin-port", "0", "-nats-port", "0", "-simulator-base-port", "0",
		"-simulator-companies", "40", "-mail-port", "0", "-smtp-port", "0", "-oidc-port", "0")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "DATABASE_URL" && !strings.HasPrefix(k, "ORGPLANE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &readmeStack{cmd: cmd, addrs: map[string]string{}, logPath: filepath.Join(filepath.Dir(state), "stderr.log"),
		exited: make(chan error, 1)}
	logs, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(s.logPath)
			t.Logf("dev stack log:\n%s", b)
		}
	})
	line := regexp.MustCompile(`^\s+(` + strings.Join(names, "|") + `)\s+[a-z]+://([^\s/]+)`)
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(3*time.Minute, func() { _ = cmd.Process.Kill() })
	var banner strings.Builder
	ready := false
	for sc.Scan() {
		banner.WriteString(sc.Text() + "\n")
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			s.addrs[m[1]] = m[2]
		}
		if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
			ready, s.started = true, time.Now()
			break
		}
	}
	deadline.Stop()
	go func() {
		for sc.Scan() {
		}
		s.exited <- cmd.Wait()
	}()
	if !ready {
		t.Fatalf("the dev stack did not start; it printed:\n%s", banner.String())
	}
	return s
}

// stop is Ctrl-C.
func (s *readmeStack) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		if err != nil {
			t.Errorf("dev stack exited with %v after Ctrl-C", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("dev stack did not exit within 60 s of Ctrl-C")
	}
}

type logRecord struct{ level, line string }

// loudRecords returns the log's records at WARN or above (the dev stack logs JSON when its
// output is not a terminal).
func loudRecords(t *testing.T, path string) []logRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []logRecord
	for _, l := range strings.Split(string(b), "\n") {
		var rec struct {
			Level string `json:"level"`
		}
		if json.Unmarshal([]byte(l), &rec) != nil {
			continue
		}
		if strings.HasPrefix(rec.Level, "WARN") || strings.HasPrefix(rec.Level, "ERROR") {
			out = append(out, logRecord{rec.Level, l})
		}
	}
	return out
}

// readmeGrpcurl installs the grpcurl the README tells readers to install, once per machine into
// the user's cache (where the stack package's grpcurl test finds it too).
func readmeGrpcurl(t *testing.T, readme string) string {
	t.Helper()
	m := regexp.MustCompile(`go install github\.com/fullstorydev/grpcurl/cmd/grpcurl@(v[0-9.]+)`).FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("README.md no longer says which grpcurl to install (go install github.com/fullstorydev/grpcurl/cmd/grpcurl@vX.Y.Z)")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "orgplane-tools", "grpcurl-"+m[1])
	bin := filepath.Join(dir, "grpcurl")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	// A cold module cache and build on two busy cores take minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/fullstorydev/grpcurl/cmd/grpcurl@"+m[1])
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("grpcurl %s, which the README's commands use, could not be installed: %v\n%s", m[1], err, out)
	}
	return bin
}

// The README test's reading of the README, without a stack: what would let a command escape it
// is reported, and the one rewrite touches only make run's addresses and state folder.
func TestReadmeParserLeavesNoCommandUnchecked(t *testing.T) {
	t.Parallel()
	src := strings.Join([]string{
		"# Title",
		"```sh",
		"curl -fsS http://127.0.0.1:8080/v1/accounts",
		"```",
		"## Second",
		"<!-- readme-test: skip — needs a cluster -->",
		"```bash",
		"kubectl get pods",
		"```",
		"```",
		"bare fence",
		"```",
		"<!-- readme-test: skip -->",
		"```sh",
		"echo no reason",
		"```",
		"<!-- readme-test: skip — stale -->",
		"",
		"text between marker and block",
		"```console",
		"$ curl -s \\",
		"    http://127.0.0.1:9101",
		"{\"output\": true}",
		"```",
		"<!-- readme-test: skip — output -->",
		"```text",
		"banner",
		"```",
		"```sh",
		"unclosed",
	}, "\n")
	blocks, problems := parseReadme(src)
	for _, want := range []string{
		"line 10: a fence with no language",
		"line 13: a readme-test skip marker must say why",
		"line 17: the readme-test skip marker must sit just above",
		"line 25: a readme-test skip marker above a \"text\" block",
		"line 29: the fence is never closed",
	} {
		if !strings.Contains(strings.Join(problems, "\n"), want) {
			t.Errorf("problems lack %q:\n%s", want, strings.Join(problems, "\n"))
		}
	}
	var run, skipped []string
	for _, b := range blocks {
		switch {
		case !b.command():
		case b.skip != "":
			skipped = append(skipped, b.section+": "+b.skip)
		default:
			run = append(run, b.section+": "+b.commands())
		}
	}
	wantRun := []string{"Title: curl -fsS http://127.0.0.1:8080/v1/accounts", "Second: echo no reason",
		"Second: curl -s \\\n    http://127.0.0.1:9101"}
	if strings.Join(run, "|") != strings.Join(wantRun, "|") {
		t.Errorf("blocks to run %q, want %q", run, wantRun)
	}
	if len(skipped) != 1 || skipped[0] != "Second: needs a cluster" {
		t.Errorf("skipped %q, want the one marked with a reason", skipped)
	}
	if bad := curlWithoutFail(blocks[4].commands()); len(bad) != 1 {
		t.Errorf("a curl without -f went unnoticed: %q", bad)
	}
	for _, ok := range []string{"curl -fsS x", "X=$(curl -f -s x)", "curl --fail x", "curl -sSf x"} {
		if bad := curlWithoutFail(ok); len(bad) != 0 {
			t.Errorf("%q was taken for a curl without -f", ok)
		}
	}
	got := rewriteReadme(`curl http://127.0.0.1:8080/x; grpcurl 127.0.0.1:9101 list; sed p .run/dev-credentials; ls .run; echo my.run/x 127.0.0.1:9999`,
		map[string]string{"127.0.0.1:8080": "127.0.0.1:40001", "127.0.0.1:9101": "127.0.0.1:40002"}, "/tmp/st")
	want := `curl http://127.0.0.1:40001/x; grpcurl 127.0.0.1:40002 list; sed p /tmp/st/dev-credentials; ls /tmp/st; echo my.run/x 127.0.0.1:9999`
	if got != want {
		t.Errorf("rewritten:\n%s\nwant:\n%s", got, want)
	}
	log := filepath.Join(t.TempDir(), "stderr.log")
	if err := os.WriteFile(log, []byte(`{"level":"INFO","msg":"fine"}
postgres: not JSON
{"level":"WARN","msg":"started but not ready"}
{"level":"ERROR","msg":"exiting"}
{"level":"DEBUG","msg":"quiet"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if loud := loudRecords(t, log); len(loud) != 2 || loud[0].level != "WARN" || loud[1].level != "ERROR" {
		t.Errorf("loud records %v, want the WARN and the ERROR", loud)
	}
}
