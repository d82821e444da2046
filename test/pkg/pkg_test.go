// Package pkg tests how director is installed: `make install` into a
// temporary DESTDIR (files, modes, the unit checked by systemd-analyze
// verify, the man page rendered by man, an existing configuration kept),
// and the .deb of `make deb` (contents, lintian, then dpkg install,
// upgrade, remove and purge in a throw-away root).
package pkg

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/director-lb/director/test/testenv"
)

// repo is the repository's root, from this package's directory.
const repo = "../.."

// need fails the test when a command the Makefile installs is missing.
func need(t *testing.T, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("%s is missing: make deps-package installs it", c)
		}
	}
}

// sh runs a command and returns its combined output, failing on an error.
func sh(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestMakeInstall(t *testing.T) {
	testenv.RequirePrivileged(t) // builds with make and checks with system tools, like the e2e tests
	need(t, "make", "systemd-analyze", "man")
	dest := t.TempDir()
	abs, err := filepath.Abs(repo)
	if err != nil {
		t.Fatal(err)
	}
	out := sh(t, nil, "make", "-C", abs, "--no-print-directory", "install", "DESTDIR="+dest, "PREFIX=/usr/local")
	t.Logf("make install:\n%s", lastLines(out, 3))

	files := map[string]os.FileMode{
		"usr/local/bin/director":                               0o755,
		"usr/local/lib/systemd/system/director.service":        0o644,
		"usr/local/share/man/man8/director.8.gz":               0o644,
		"usr/local/share/bash-completion/completions/director": 0o644,
		"usr/local/share/zsh/site-functions/_director":         0o644,
		"usr/local/share/doc/director/director.yaml.example":   0o644,
		"usr/local/share/doc/director/README.md":               0o644,
		"etc/director/director.yaml":                           0o644,
	}
	for f, mode := range files {
		st, err := os.Stat(filepath.Join(dest, f))
		if err != nil {
			t.Errorf("not installed: %v", err)
			continue
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", f, st.Mode().Perm(), mode)
		}
	}
	bin := filepath.Join(dest, "usr/local/bin/director")
	conf := filepath.Join(dest, "etc/director/director.yaml")
	if out := sh(t, nil, bin, "validate", "-c", conf); !strings.Contains(out, ": valid (node lb1, 1 services, 2 real servers)") {
		t.Errorf("the example configuration: %s", out)
	}

	// The unit runs the installed binary.
	unit, err := os.ReadFile(filepath.Join(dest, "usr/local/lib/systemd/system/director.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/usr/local/bin/director run ", "ExecStartPre=/usr/local/bin/director validate ",
		"file:///usr/local/share/doc/director/README.md"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("installed unit lacks %q", want)
		}
	}
	// systemd-analyze verify checks that the commands exist and that the
	// man page the unit names is there: point both into DESTDIR.
	vdir := t.TempDir()
	vunit := filepath.Join(vdir, "director.service")
	if err := os.WriteFile(vunit, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/director", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("systemd-analyze", "verify", vunit)
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(dest, "usr/local/share/man"))
	vout, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(vout))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, vout)
	}

	// The man page renders without warnings.
	cmd = exec.Command("man", "--warnings", "-l", filepath.Join(dest, "usr/local/share/man/man8/director.8.gz"))
	cmd.Env = append(os.Environ(), "MANWIDTH=100", "MANPAGER=cat", "PAGER=cat")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	page, err := cmd.Output()
	if err != nil || stderr.Len() > 0 || !strings.Contains(string(page), "check a configuration file") {
		t.Errorf("man: %v, warnings %q, page:\n%.600s", err, stderr.String(), page)
	}

	// Again over an edited configuration: kept.
	if err := os.WriteFile(conf, []byte("# mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = sh(t, nil, "make", "-C", abs, "--no-print-directory", "install", "DESTDIR="+dest, "PREFIX=/usr/local")
	if b, _ := os.ReadFile(conf); string(b) != "# mine\n" || !strings.Contains(out, "kept "+conf) {
		t.Errorf("an existing configuration was not kept: %q\n%s", b, lastLines(out, 3))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// buildDeb runs make deb with version v into dir and returns the .deb.
func buildDeb(t *testing.T, abs, dir, v string) string {
	t.Helper()
	// DEB_DIR keeps the test's packages out of build/, where the
	// Vagrantfile takes the newest.
	out := sh(t, nil, "make", "-C", abs, "--no-print-directory", "deb", "DEB_VERSION="+v, "DEB_DIR="+dir)
	built := lastLines(out, 1)
	if _, err := os.Stat(built); err != nil || filepath.Dir(built) != dir {
		t.Fatalf("make deb: %v (%s)\n%s", err, built, lastLines(out, 5))
	}
	return built
}

// throwAwayRoot is a root for dpkg --root: an empty dpkg database and a
// busybox shell with the C library it links, enough for the maintainer
// scripts (no systemd runs there, so they skip the unit's start and stop;
// deb-systemd-helper is absent, so dpkg is told to ignore the dependency).
func throwAwayRoot(t *testing.T) string {
	t.Helper()
	need(t, "busybox", "ldd")
	r := t.TempDir()
	for _, d := range []string{"bin", "usr/bin", "tmp", "var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(r, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(r, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	libs := []string{bb}
	for _, f := range strings.Fields(sh(t, nil, "ldd", bb)) {
		if strings.HasPrefix(f, "/") {
			libs = append(libs, f)
		}
	}
	for _, f := range libs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(r, f)
		if f == bb {
			dst = filepath.Join(r, "bin/busybox")
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{"sh", "sed", "head", "rm", "echo", "cat", "test", "[", "mkdir"} {
		if err := os.Symlink("busybox", filepath.Join(r, "bin", c)); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestDeb(t *testing.T) {
	testenv.RequirePrivileged(t) // dpkg --root runs the maintainer scripts chrooted
	need(t, "make", "dpkg", "dpkg-deb", "lintian")
	abs, err := filepath.Abs(repo)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const base = "0~19700101000000.test"
	v1 := buildDeb(t, abs, dir, base+"-1")
	v2 := buildDeb(t, abs, dir, base+"-2")

	info := sh(t, nil, "dpkg-deb", "--info", v1)
	for _, want := range []string{"Package: director", "Version: " + base + "-1", "Architecture: amd64",
		"Depends: init-system-helpers (>= 1.52)", "postinst", "prerm", "postrm", "conffiles"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	if got := sh(t, nil, "dpkg-deb", "--ctrl-tarfile", v1); !strings.Contains(got, "/etc/director/director.yaml") {
		t.Error("conffiles does not name /etc/director/director.yaml")
	}
	contents := sh(t, nil, "dpkg-deb", "--contents", v1)
	for _, want := range []string{"./usr/bin/director", "./lib/systemd/system/director.service",
		"./usr/share/man/man8/director.8.gz", "./usr/share/bash-completion/completions/director",
		"./usr/share/zsh/vendor-completions/_director", "./etc/director/director.yaml",
		"./usr/share/doc/director/copyright", "./usr/share/doc/director/changelog.Debian.gz"} {
		if !strings.Contains(contents, want+"\n") {
			t.Errorf("the .deb lacks %s", want)
		}
	}

	// lintian: nothing but what the package overrides, and why.
	lint, _ := exec.Command("lintian", "--tag-display-limit", "0", v1).CombinedOutput() // exit 1 on errors: read the tags
	for _, line := range strings.Split(string(lint), "\n") {
		if strings.HasPrefix(line, "E:") || strings.HasPrefix(line, "W:") {
			t.Errorf("lintian: %s", line)
		}
	}

	// Install, upgrade, remove, purge in a throw-away root.
	r := throwAwayRoot(t)
	dpkg := func(args ...string) string {
		t.Helper()
		return sh(t, nil, "dpkg", append([]string{"--root=" + r, "--force-depends"}, args...)...)
	}
	status := func() string {
		out, _ := exec.Command("dpkg-query", "--root="+r, "-W", "-f=${Status} ${Version}", "director").CombinedOutput()
		return string(out)
	}
	out := dpkg("-i", v1)
	if !strings.Contains(out, "director: edit /etc/director/director.yaml") || status() != "install ok installed "+base+"-1" {
		t.Fatalf("install: status %q\n%s", status(), out)
	}
	conf := filepath.Join(r, "etc/director/director.yaml")
	if out := sh(t, nil, filepath.Join(r, "usr/bin/director"), "validate", "-c", conf); !strings.Contains(out, "valid") {
		t.Errorf("installed example: %s", out)
	}
	edited := "# the administrator's edit\n"
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, append(b, edited...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r, "etc/director/authkey"), []byte("k\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	out = dpkg("-i", v2)
	if status() != "install ok installed "+base+"-2" {
		t.Fatalf("upgrade: status %q\n%s", status(), out)
	}
	if b, _ := os.ReadFile(conf); !strings.HasSuffix(string(b), edited) {
		t.Errorf("upgrade lost the edited configuration:\n%s", b)
	}
	if strings.Contains(out, "director: edit /etc/director") {
		t.Errorf("upgrade printed the first-install message:\n%s", out)
	}

	dpkg("-r", "director")
	if _, err := os.Stat(filepath.Join(r, "usr/bin/director")); err == nil {
		t.Error("remove left /usr/bin/director")
	}
	if b, _ := os.ReadFile(conf); !strings.HasSuffix(string(b), edited) || status() != "deinstall ok config-files "+base+"-2" {
		t.Errorf("remove: status %q, configuration %q", status(), b)
	}

	dpkg("-P", "director")
	if _, err := os.Stat(filepath.Join(r, "etc/director")); err == nil {
		t.Error("purge left /etc/director")
	}
	left := sh(t, nil, "find", r, "-path", filepath.Join(r, "var"), "-prune", "-o", "-newer", filepath.Join(r, "var/lib/dpkg/available"), "-print")
	for _, f := range strings.Fields(left) {
		rel, _ := filepath.Rel(r, f)
		if rel != "." && rel != "var" && !strings.HasPrefix(rel, "bin") && !strings.HasPrefix(rel, "lib") && rel != "usr" && rel != "usr/bin" && rel != "tmp" {
			t.Errorf("purge left %s", rel)
		}
	}
}
