// A writer of the cpio "newc" format, the one the kernel unpacks as an
// initramfs: enough for directories, regular files and character devices.

package vm

import (
	"fmt"
	"io"
	"path"
	"strings"
)

// Cpio writes a newc archive. Parent directories are written before their
// entries on first use; Close writes the trailer.
type Cpio struct {
	w    io.Writer
	ino  uint32
	dirs map[string]bool
	err  error
}

// NewCpio starts an archive on w.
func NewCpio(w io.Writer) *Cpio {
	return &Cpio{w: w, ino: 1, dirs: map[string]bool{".": true, "/": true, "": true}}
}

// File mode type bits of newc headers.
const (
	cpioDir  = 0o040000
	cpioReg  = 0o100000
	cpioChar = 0o020000
)

func (c *Cpio) header(name string, mode uint32, size int, rdevMajor, rdevMinor uint32) {
	if c.err != nil {
		return
	}
	if size < 0 || uint64(size) > 0xffffffff {
		c.err = fmt.Errorf("cpio: %s: size %d does not fit newc", name, size)
		return
	}
	nlink := uint32(1)
	if mode&cpioDir != 0 {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.ino++
	c.write([]byte(hdr + name + "\x00"))
	c.pad(len(hdr) + len(name) + 1)
}

func (c *Cpio) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

// pad writes the zeros that align n bytes to 4.
func (c *Cpio) pad(n int) {
	if r := n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// clean makes an archive name: relative, slash-separated, no dot parts.
func clean(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// Dir adds a directory and its parents.
func (c *Cpio) Dir(name string) error {
	name = clean(name)
	if c.dirs[name] {
		return c.err
	}
	_ = c.Dir(path.Dir(name)) // its error sticks in c.err
	c.dirs[name] = true
	c.header(name, cpioDir|0o755, 0, 0, 0)
	return c.err
}

// File adds a regular file with the permission bits perm.
func (c *Cpio) File(name string, perm uint32, data []byte) error {
	name = clean(name)
	_ = c.Dir(path.Dir(name)) // its error sticks in c.err
	c.header(name, cpioReg|perm&0o7777, len(data), 0, 0)
	c.write(data)
	c.pad(len(data))
	return c.err
}

// CharDev adds a character device node.
func (c *Cpio) CharDev(name string, perm, major, minor uint32) error {
	name = clean(name)
	_ = c.Dir(path.Dir(name)) // its error sticks in c.err
	c.header(name, cpioChar|perm&0o7777, 0, major, minor)
	return c.err
}

// Close writes the trailer; it does not close the underlying writer.
func (c *Cpio) Close() error {
	c.header("TRAILER!!!", 0, 0, 0, 0)
	return c.err
}
