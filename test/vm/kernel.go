// The guest's kernel: Debian's linux-image package that the metapackage
// linux-image-amd64 names, downloaded with apt-get, extracted with dpkg-deb
// and given a modules.dep with depmod, once per version, into a cache
// directory outside git.

package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Kernel is an extracted kernel package.
type Kernel struct {
	// Version is the kernel release, e.g. "6.1.0-56-amd64".
	Version string
	// Root is the extracted package's root directory.
	Root string
}

// Vmlinuz is the kernel image.
func (k *Kernel) Vmlinuz() string { return filepath.Join(k.Root, "boot", "vmlinuz-"+k.Version) }

// ModulesRoot is the extracted lib/modules, parent of the version's tree.
func (k *Kernel) ModulesRoot() string { return filepath.Join(k.Root, "lib", "modules") }

// ModulesDir is the version's module tree (holding modules.dep).
func (k *Kernel) ModulesDir() string { return filepath.Join(k.ModulesRoot(), k.Version) }

// KernelDebEnv names a kernel .deb to use instead of downloading one
// (for a machine without Debian's archive).
const KernelDebEnv = "DIRECTOR_VM_KERNEL_DEB"

// Metapackage is the Debian package whose dependency names the kernel.
const Metapackage = "linux-image-amd64"

const completeMark = ".complete"

var imagePkg = regexp.MustCompile(`^linux-image-([0-9][0-9A-Za-z.+~-]*)$`)

// run runs a command and returns its combined output; a failure's error
// carries the output's last lines.
func run(ctx context.Context, dir string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail(out, 6))
	}
	return out, nil
}

// tail returns the last n lines of out, on one line.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// KernelPackage asks apt which kernel package the metapackage depends on,
// updating apt's lists once if it does not know.
func KernelPackage(ctx context.Context) (string, error) {
	for attempt := 0; ; attempt++ {
		out, err := run(ctx, "", "apt-cache", "depends", Metapackage)
		if err == nil {
			for _, line := range strings.Split(string(out), "\n") {
				dep, ok := strings.CutPrefix(strings.TrimSpace(line), "Depends: ")
				if ok && imagePkg.MatchString(dep) {
					return dep, nil
				}
			}
		}
		if attempt > 0 {
			if err == nil {
				err = fmt.Errorf("no linux-image-* dependency in: %s", tail(out, 6))
			}
			return "", fmt.Errorf("find the kernel package %s depends on: %w", Metapackage, err)
		}
		if _, uerr := run(ctx, "", "apt-get", "update", "-qq"); uerr != nil {
			return "", fmt.Errorf("find the kernel package: %w", uerr)
		}
	}
}

// FetchKernel returns the cached kernel under cacheDir, downloading and
// extracting it first if needed. progress gets a line per slow step.
func FetchKernel(ctx context.Context, cacheDir string, progress io.Writer) (*Kernel, error) {
	for _, tool := range []string{"dpkg-deb", "depmod"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("fetch kernel: %s not found (Debian packages dpkg and kmod): %w", tool, err)
		}
	}
	deb := os.Getenv(KernelDebEnv)
	var pkg string
	if deb != "" {
		out, err := run(ctx, "", "dpkg-deb", "--field", deb, "Package")
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %w", KernelDebEnv, deb, err)
		}
		pkg = strings.TrimSpace(string(out))
		if !imagePkg.MatchString(pkg) {
			return nil, fmt.Errorf("%s=%s: package %q is not a linux-image-<version>", KernelDebEnv, deb, pkg)
		}
	} else {
		var err error
		if pkg, err = KernelPackage(ctx); err != nil {
			return nil, err
		}
	}
	k := &Kernel{Version: imagePkg.FindStringSubmatch(pkg)[1], Root: filepath.Join(cacheDir, pkg)}
	if _, err := os.Stat(filepath.Join(k.Root, completeMark)); err == nil {
		return k, nil
	}

	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(cacheDir, pkg+".tmp-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }() // what stays, vmrun's removeStale removes
	// apt-get download drops privileges to _apt when it can write here
	// (without, it downloads as root, with a warning).
	_ = os.Chmod(tmp, 0o777)

	if deb == "" {
		_, _ = fmt.Fprintf(progress, "vm: downloading %s (Debian's %s)\n", pkg, Metapackage)
		if _, err := run(ctx, tmp, "apt-get", "download", pkg); err != nil {
			// The archive may have moved on since apt's lists were
			// fetched: update them once and try again.
			if _, uerr := run(ctx, "", "apt-get", "update", "-qq"); uerr != nil {
				return nil, fmt.Errorf("download kernel: %w (and %v)", err, uerr)
			}
			if _, err := run(ctx, tmp, "apt-get", "download", pkg); err != nil {
				return nil, fmt.Errorf("download kernel %s: %w; the VM tests need Debian's package archive, or %s=/path/to/%s_*.deb", pkg, err, KernelDebEnv, pkg)
			}
		}
		debs, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
		if len(debs) != 1 {
			return nil, fmt.Errorf("download kernel %s: want one .deb in %s, found %d", pkg, tmp, len(debs))
		}
		deb = debs[0]
	}
	root := filepath.Join(tmp, "root")
	if _, err := run(ctx, "", "dpkg-deb", "-x", deb, root); err != nil {
		return nil, fmt.Errorf("extract kernel: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, "boot", "vmlinuz-"+k.Version)); err != nil {
		return nil, fmt.Errorf("extract kernel %s: no boot/vmlinuz-%s in the package", pkg, k.Version)
	}
	// Debian's package ships no modules.dep: its postinst runs depmod.
	if _, err := run(ctx, "", "depmod", "-b", root, k.Version); err != nil {
		return nil, fmt.Errorf("depmod for the extracted kernel: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, completeMark), []byte(pkg+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.Chmod(root, 0o755); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(k.Root); err != nil {
		return nil, err
	}
	if err := os.Rename(root, k.Root); err != nil {
		return nil, err
	}
	// A newer kernel replaces the older ones (400 MB each extracted).
	old, _ := filepath.Glob(filepath.Join(cacheDir, "linux-image-*"))
	for _, o := range old {
		if o != k.Root && !strings.Contains(filepath.Base(o), ".tmp-") {
			_ = os.RemoveAll(o) // only space: the next download tries again
		}
	}
	return k, nil
}

// BootModules resolves the named modules against the kernel's
// modules.dep: the files to load, dependencies first.
func (k *Kernel) BootModules(names []string) ([]string, error) {
	dep, err := os.ReadFile(filepath.Join(k.ModulesDir(), "modules.dep"))
	if err != nil {
		return nil, err
	}
	md, err := ParseModulesDep(bytes.NewReader(dep))
	if err != nil {
		return nil, err
	}
	var builtin map[string]bool
	if b, err := os.ReadFile(filepath.Join(k.ModulesDir(), "modules.builtin")); err == nil {
		if builtin, err = ParseBuiltin(bytes.NewReader(b)); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return md.Resolve(names, builtin)
}
