package main

// The generated man page names every command and flag; the bash
// completion script, run by a real bash, completes commands, subcommands
// and flags, and leaves file names after a flag that takes a value; the
// zsh one is valid zsh.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestManPage(t *testing.T) {
	page, _, code := run(t, "man")
	if code != 0 || !strings.HasPrefix(page, ".nh\n.TH director 8") {
		t.Fatalf("exit %d, page starts %.40q", code, page)
	}
	var walk func(cmds []*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			if !strings.Contains(page, "\n.SH "+c.Name+"\n") && !strings.Contains(page, "\n.SS "+c.Name+"\n") {
				t.Errorf("command %s has no section", c.Name)
			}
			for _, f := range c.Flags {
				if !strings.Contains(page, `\fB--`+f.Names()[0]) {
					t.Errorf("flag --%s of %s missing", f.Names()[0], c.Name)
				}
			}
			walk(c.Subcommands)
		}
	}
	walk(newApp(nil, nil).Commands)
	if strings.Contains(page, ".SH man\n") || strings.Contains(page, ".SH completion\n") {
		t.Error("the hidden commands are in the man page")
	}
}

// complete runs the bash completion function on a command line whose
// last word is being completed.
func complete(t *testing.T, script, line string) string {
	t.Helper()
	words := strings.Split(line, " ")
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = "'" + w + "'"
	}
	prog := "source " + script + "; COMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" +
		strconv.Itoa(len(words)-1) + `; _director; echo "${COMPREPLY[*]}"`
	out, err := exec.Command("bash", "--norc", "--noprofile", "-c", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash is needed: it is Debian's login shell, always there")
	}
	out, _, code := run(t, "completion", "bash")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	script := filepath.Join(t.TempDir(), "director")
	if err := os.WriteFile(script, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ line, want string }{
		{"director st", "status stop"},
		{"director lab u", "up"},
		{"director lab --prefix x f", "failover"},
		{"director run --log", "--log-format --log-level"},
		{"director run --config ", ""}, // a file name: bash's default completion
		{"director validate -c d.yaml -", "--config -c --help -h"},
		{"director status --socket /run/director/lb1.sock --j", "--json"},
		{"director ma", ""}, // hidden
	} {
		if got := complete(t, script, c.line); got != c.want {
			t.Errorf("%q completes to %q, want %q", c.line, got, c.want)
		}
	}
}

func TestZshCompletion(t *testing.T) {
	out, _, code := run(t, "completion", "zsh")
	if code != 0 || !strings.HasPrefix(out, "#compdef director\n") {
		t.Fatalf("exit %d, script starts %.30q", code, out)
	}
	if _, err := exec.LookPath("zsh"); err != nil {
		// The unprivileged tier needs no system package; the full one
		// (make test, CI) installs zsh and must check.
		if os.Getenv("DIRECTOR_PRIVILEGED_TESTS") == "1" {
			t.Fatal("zsh is needed to check the script: make deps-test installs it")
		}
		t.Skip("zsh is not installed (make deps-test installs it)")
	}
	script := filepath.Join(t.TempDir(), "_director")
	if err := os.WriteFile(script, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("zsh", "-n", script).CombinedOutput(); err != nil {
		t.Errorf("zsh -n: %v\n%s", err, msg)
	}
	for _, want := range []string{"'run:run the director of this node", "'lab up') cmds=() flags=(--prefix --fast --help -h)"} {
		if !strings.Contains(out, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	if _, _, code := run(t, "completion", "fish"); code != 1 {
		t.Errorf("completion fish: exit %d, want 1", code)
	}
}
