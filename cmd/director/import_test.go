package main

// director import in-process: the seed's files give a file that validate
// accepts; untranslated lines go to stderr with file:line.

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImportSeed(t *testing.T) {
	seed := "../../control/importer/testdata/seed"
	dir := t.TempDir()
	out := filepath.Join(dir, "director.yaml")
	_, errOut, code := run(t, "import", "--net", "enp0s3=192.168.56.11/24", "--net", "enp0s8=192.168.200.251/24",
		"-o", out, seed+"/ipvsadm.rules", seed+"/default/ipvsadm", seed+"/ha.d/ha.cf", seed+"/ha.d/authkeys",
		seed+"/ha.d/haresources")
	if code != 0 || !strings.Contains(errOut, "(0 items not translated)") {
		t.Fatalf("import: exit %d, %s", code, errOut)
	}
	stdout, errOut, code := run(t, "validate", "-c", out)
	if code != 0 || !strings.Contains(stdout, "valid (node lb1, 1 services, 2 real servers)") {
		t.Errorf("validate of the import: exit %d, %s%s", code, stdout, errOut)
	}

	rules := filepath.Join(dir, "ipvsadm.rules")
	if err := os.WriteFile(rules, []byte("-A -t 192.168.56.10:80 -s wrr\n-a -t 192.168.56.10:80 -r 192.168.200.11:80 -g\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, errOut, code = run(t, "import", "--node", "lb1", "--net", "enp0s3=192.168.56.11/24", rules)
	if code != 0 || !strings.Contains(errOut, "not translated: "+rules+":2: ") || !strings.Contains(stdout, "vip: 192.168.56.10") {
		t.Errorf("import of -g: exit %d\nstdout %s\nstderr %s", code, stdout, errOut)
	}
}

// TestImportStdin: `ipvsadm -S | director import -`, names of ports
// included (-S without -n writes "http").
func TestImportStdin(t *testing.T) {
	var out, errOut bytes.Buffer
	app := newApp(&out, &errOut)
	app.Reader = strings.NewReader("-A -t 192.168.56.10:http -s wrr\n-a -t 192.168.56.10:http -r 192.168.200.11:http -m -w 3\n")
	if err := app.RunContext(context.Background(), []string{"director", "import", "--node", "lb1",
		"--net", "enp0s3=192.168.56.11/24", "--net", "enp0s8=192.168.200.251/24", "-"}); err != nil {
		t.Fatalf("import -: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"    port: 80\n", "{address: 192.168.200.11, port: 80, weight: 3}", "internal: enp0s8"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("import - lacks %q:\n%s", want, out.String())
		}
	}
}
