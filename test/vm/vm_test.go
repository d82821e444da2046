package vm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

const depSample = `kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/fs/netfs/netfs.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/lib/loop-a.ko: kernel/lib/loop_b.ko
kernel/lib/loop_b.ko: kernel/lib/loop-a.ko
`

func TestResolveDependenciesFirst(t *testing.T) {
	md, err := ParseModulesDep(strings.NewReader(depSample))
	if err != nil {
		t.Fatal(err)
	}
	got, err := md.Resolve([]string{"virtio_pci", "9pnet_virtio", "9p", "virtio_blk"}, map[string]bool{"virtio_blk": true})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, f := range got {
		if _, dup := pos[f]; dup {
			t.Fatalf("%s twice in %v", f, got)
		}
		pos[f] = i
	}
	if len(got) != 10 {
		t.Fatalf("want the 10 modules of the sample, got %d: %v", len(got), got)
	}
	for file, deps := range md.deps {
		if _, ok := pos[file]; !ok {
			continue
		}
		for _, d := range deps {
			if pos[d] > pos[file] {
				t.Errorf("%s loaded before its dependency %s: %v", file, d, got)
			}
		}
	}
}

func TestResolveErrors(t *testing.T) {
	md, err := ParseModulesDep(strings.NewReader(depSample))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"ip_vs":  "module ip_vs: not in modules.dep and not built in",
		"loop-a": "module dependency cycle: loop_a -> loop_b -> loop_a",
	} {
		_, err := md.Resolve([]string{name}, nil)
		if err == nil || err.Error() != want {
			t.Errorf("Resolve(%s): got %v, want %q", name, err, want)
		}
	}
	if _, err := ParseModulesDep(strings.NewReader("a.ko:\nnonsense\n")); err == nil || !strings.HasPrefix(err.Error(), "modules.dep:2:") {
		t.Errorf("malformed line: got %v, want an error naming line 2", err)
	}
}

func TestModuleName(t *testing.T) {
	for file, want := range map[string]string{
		"kernel/net/9p/9pnet_virtio.ko":      "9pnet_virtio",
		"kernel/crypto/crc32c-generic.ko.xz": "crc32c_generic",
		"ip_vs.ko":                           "ip_vs",
	} {
		if got := ModuleName(file); got != want {
			t.Errorf("ModuleName(%s) = %s, want %s", file, got, want)
		}
	}
}

// cpioEntry is one entry read back from a newc archive.
type cpioEntry struct {
	name string
	mode uint32
	rdev [2]uint32
	data string
}

// readNewc reads a newc archive, checking magic and 4-byte alignment.
func readNewc(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("no newc header at offset %d", off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("header field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		mode, size, rmaj, rmin, nsize := field(1), int(field(6)), field(9), field(10), int(field(11))
		name := string(b[off+110 : off+110+nsize-1])
		if b[off+110+nsize-1] != 0 {
			t.Fatalf("%s: name not NUL-terminated", name)
		}
		dataOff := align(off + 110 + nsize)
		if name == "TRAILER!!!" {
			if dataOff != len(b) {
				t.Fatalf("%d bytes after the trailer", len(b)-dataOff)
			}
			return out
		}
		out = append(out, cpioEntry{name, mode, [2]uint32{rmaj, rmin}, string(b[dataOff : dataOff+size])})
		off = align(dataOff + size)
	}
}

func TestCpioNewc(t *testing.T) {
	var buf bytes.Buffer
	c := NewCpio(&buf)
	for _, err := range []error{
		c.CharDev("/dev/console", 0o600, 5, 1),
		c.File("/init", 0o755, []byte("#!x\n")),
		c.File("modules/a/b.ko", 0o644, []byte("12345")),
		c.Dir("host"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range readNewc(t, buf.Bytes()) {
		got = append(got, fmt.Sprintf("%s %o %d:%d %q", e.name, e.mode, e.rdev[0], e.rdev[1], e.data))
	}
	want := []string{
		`dev 40755 0:0 ""`,
		`dev/console 20600 5:1 ""`,
		`init 100755 0:0 "#!x\n"`,
		`modules 40755 0:0 ""`,
		`modules/a 40755 0:0 ""`,
		`modules/a/b.ko 100644 0:0 "12345"`,
		`host 40755 0:0 ""`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("archive holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMarkers(t *testing.T) {
	res := &Result{}
	for _, line := range []string{
		"[    1.0] random kernel line",
		FormatMarker("booted", 2518),
		FormatMarker("start", "./test/vmtests/"),
		"--- FAIL: TestX (0.1s)",
		// A marker after a test's unterminated output line.
		"partial output" + FormatMarker("end", "./test/vmtests/", "fail", "3.2", "exit status 1"),
		FormatMarker("verdict", "fail"),
		"@@director-vm bogus",
	} {
		if ev, ok := ParseMarker(line); ok {
			res.record(ev, time.Second)
		}
	}
	if res.KernelBoot != 2518*time.Millisecond || res.Booted != time.Second {
		t.Errorf("boot times %v, %v", res.KernelBoot, res.Booted)
	}
	if len(res.Jobs) != 1 || res.Jobs[0] != (JobResult{"./test/vmtests/", "fail", 3.2, "exit status 1"}) {
		t.Errorf("jobs %+v", res.Jobs)
	}
	if res.Verdict != "fail" {
		t.Errorf("verdict %q", res.Verdict)
	}
}

// The guest reads what the host writes: durations survive the JSON trip.
func TestGuestConfigJSON(t *testing.T) {
	in := GuestConfig{HostTag: HostTag, Jobs: []Job{{Name: "x", Argv: []string{"/bin/true"}, Timeout: 90 * time.Second}}}
	js, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out GuestConfig
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatal(err)
	}
	if out.Jobs[0].Timeout != 90*time.Second || out.HostTag != HostTag {
		t.Fatalf("round trip: %+v", out)
	}
}
