// Module dependencies of the extracted kernel, read from the modules.dep
// that depmod wrote for it: the host uses them to put the modules that
// mounting 9p needs into the initramfs, in an order insmod accepts.

package vm

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// ModuleDeps maps a module's name to its file (relative to the modules
// directory) and to the files it depends on, as modules.dep lists them.
type ModuleDeps struct {
	file map[string]string   // name -> file
	deps map[string][]string // file -> files it needs
}

// ModuleName is the name of a module file: its base name without the
// .ko (and compression) suffix, with '-' read as '_' as the kernel does.
func ModuleName(file string) string {
	b := path.Base(file)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// ParseModulesDep reads modules.dep ("file: dep dep ...", one module a
// line). A malformed line is an error naming its line number.
func ParseModulesDep(r io.Reader) (*ModuleDeps, error) {
	md := &ModuleDeps{file: map[string]string{}, deps: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		file, rest, ok := strings.Cut(line, ":")
		if !ok || file == "" || !strings.Contains(file, ".ko") {
			return nil, fmt.Errorf("modules.dep:%d: want \"file.ko: deps...\", got %q", n, line)
		}
		md.file[ModuleName(file)] = file
		md.deps[file] = strings.Fields(rest)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	return md, nil
}

// Resolve returns the files to load for the named modules, every file
// after the files it depends on and each once. Names built into the
// kernel (listed in builtin, may be nil) need no file and are left out.
func (md *ModuleDeps) Resolve(names []string, builtin map[string]bool) ([]string, error) {
	var order []string
	state := map[string]int{} // 1: visiting, 2: done
	var visit func(file string, chain []string) error
	visit = func(file string, chain []string) error {
		switch state[file] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("module dependency cycle: %s", strings.Join(append(chain, ModuleName(file)), " -> "))
		}
		state[file] = 1
		deps, ok := md.deps[file]
		if !ok {
			return fmt.Errorf("module %s: %s is not in modules.dep", chain[len(chain)-1], file)
		}
		for _, d := range deps {
			if err := visit(d, append(chain, ModuleName(file))); err != nil {
				return err
			}
		}
		state[file] = 2
		order = append(order, file)
		return nil
	}
	for _, name := range names {
		name = strings.ReplaceAll(name, "-", "_")
		if builtin[name] {
			continue
		}
		file, ok := md.file[name]
		if !ok {
			return nil, fmt.Errorf("module %s: not in modules.dep and not built in", name)
		}
		if err := visit(file, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// ParseBuiltin reads modules.builtin (one file path a line) into the set
// of module names built into the kernel.
func ParseBuiltin(r io.Reader) (map[string]bool, error) {
	set := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			set[ModuleName(line)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.builtin: %w", err)
	}
	return set, nil
}
