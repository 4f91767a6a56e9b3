package qemurig

import (
	"fmt"
	"io"
)

// cpioWriter writes the "newc" cpio format the kernel unpacks as an
// initramfs: a 110-byte ASCII header per entry, the name, the data, each
// padded to four bytes, and a TRAILER!!! entry at the end.
type cpioWriter struct {
	w   io.Writer
	ino uint32
	n   int64 // bytes written, for the padding
	err error
}

// File modes of the entries (the type bits of stat(2)).
const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
)

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// entry writes one entry; rdev is major, minor for device nodes.
func (c *cpioWriter) entry(name string, mode uint32, data []byte, rdevMajor, rdevMinor uint32) error {
	c.ino++
	nlink := uint32(1)
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write(append([]byte(name), 0))
	c.pad()
	c.write(data)
	c.pad()
	return c.err
}

func (c *cpioWriter) dir(name string) error { return c.entry(name, modeDir|0o755, nil, 0, 0) }

func (c *cpioWriter) file(name string, perm uint32, data []byte) error {
	return c.entry(name, modeFile|perm, data, 0, 0)
}

func (c *cpioWriter) symlink(name, target string) error {
	return c.entry(name, modeSymlink|0o777, []byte(target), 0, 0)
}

func (c *cpioWriter) charDev(name string, major, minor uint32) error {
	return c.entry(name, modeCharDev|0o600, nil, major, minor)
}

// close writes the trailer.
func (c *cpioWriter) close() error {
	c.ino = 0
	return c.entry("TRAILER!!!", 0, nil, 0, 0)
}
