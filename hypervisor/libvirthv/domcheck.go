package libvirthv

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// qemuNS is libvirt's namespace for QEMU pass-through elements.
const qemuNS = "http://libvirt.org/schemas/domain/qemu/1.0"

// maxDepth bounds element nesting (backing chains are the deepest part).
const maxDepth = 64

// libvirtChannelDirs hold the sockets libvirt itself creates for unix
// channels (the guest agent's); live XML and save files name them.
var libvirtChannelDirs = []string{"/var/lib/libvirt/qemu/channel", "/run/libvirt/qemu/channel"}

// frame is one open element during the check.
type frame struct {
	name    string
	node    *allowed // nil: inside a subtree taken whole (metadata, permitted namespaces)
	start   xml.StartElement
	text    bytes.Buffer
	sources int // <source> children seen, for disks and backing stores
}

// checkDomain checks domain XML against the allowlist and p. It returns
// the image files the XML names (all under p.ImageRoots), so that a local
// host can check where they really lead. Errors name the line, the element
// and what is wrong; they quote paths but no other value, since domain XML
// may hold secrets (graphics passwords).
func checkDomain(def []byte, p DomainPolicy) ([]string, error) {
	c := checker{p: p, dec: xml.NewDecoder(bytes.NewReader(def))}
	if err := c.run(); err != nil {
		line, _ := c.dec.InputPos()
		return nil, fmt.Errorf("domain XML line %d: %w", line, err)
	}
	return c.files, nil
}

type checker struct {
	p     DomainPolicy
	dec   *xml.Decoder
	stack []*frame
	files []string
	disks int  // disks seen, to name them in errors
	done  bool // </domain> seen
}

func (c *checker) run() error {
	for {
		tok, err := c.dec.Token()
		if err == io.EOF { // the decoder itself refuses an EOF inside an element
			return nil
		}
		if err != nil {
			return fmt.Errorf("does not parse: %s", xmlErr(err))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := c.open(t.Copy()); err != nil {
				return err
			}
		case xml.EndElement:
			if err := c.close(); err != nil {
				return err
			}
		case xml.CharData:
			if n := len(c.stack); n > 0 {
				c.stack[n-1].text.Write(t)
			}
		}
	}
}

// below returns the open elements below <domain>, then names.
func (c *checker) below(names ...string) []string {
	segs := make([]string, 0, len(c.stack)+len(names))
	for _, f := range c.stack[min(1, len(c.stack)):] {
		segs = append(segs, f.name)
	}
	return append(segs, names...)
}

// where spells the path of a child name of the innermost open element,
// as <devices><disk><source>; whereOpen, that of the innermost itself.
func (c *checker) where(name string) string { return spell(c.below(name)) }
func (c *checker) whereOpen() string        { return spell(c.below()) }

func spell(segs []string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteString("<" + clip(s) + ">")
	}
	return b.String()
}

// path is a child's path below <domain>, as devices/disk/source;
// pathOpen, that of the innermost open element.
func (c *checker) path(name string) string { return strings.Join(c.below(name), "/") }
func (c *checker) pathOpen() string        { return strings.Join(c.below(), "/") }

func (c *checker) parent() *frame {
	if len(c.stack) == 0 {
		return nil
	}
	return c.stack[len(c.stack)-1]
}

func (c *checker) open(e xml.StartElement) error {
	name := e.Name.Local
	f := &frame{name: name, start: e}
	par := c.parent()
	switch {
	case len(c.stack) >= maxDepth:
		return fmt.Errorf("elements nest deeper than %d", maxDepth)
	case par == nil && c.done:
		return fmt.Errorf("a second element <%s> after </domain>", clip(name))
	case par == nil:
		if e.Name.Space != "" || name != "domain" {
			return fmt.Errorf("the document is <%s>, not <domain>", clip(name))
		}
		f.node = allowTree
	case par.node == nil:
		// Inside a subtree taken whole.
	case e.Name.Space == qemuNS:
		if !c.p.AllowQemuCommandline {
			return fmt.Errorf("%s of libvirt's QEMU namespace is not allowed: it passes raw settings to QEMU (DomainPolicy.AllowQemuCommandline permits it)", c.where("qemu:"+name))
		}
	case e.Name.Space != "":
		return fmt.Errorf("element %s of namespace %q is not allowed", c.where(name), clip(e.Name.Space))
	case len(c.stack) == 1 && name == "metadata":
		// Applications' own data: libvirt stores it and never acts on it.
	default:
		n, err := c.allowedChild(par, name)
		if err != nil {
			return err
		}
		f.node = n
	}
	if f.node != nil {
		if err := c.attrs(e, f.node, par == nil); err != nil {
			return err
		}
		if err := c.element(par, f); err != nil {
			return err
		}
		if c.path(name) == "devices/interface" && attr(e, "type") == "hostdev" {
			f.node = nil // permitted by element: a hostdev, taken whole
		}
	}
	c.stack = append(c.stack, f)
	return nil
}

// allowedChild finds name among par's allowed children, or among the
// constructs the policy may permit.
func (c *checker) allowedChild(par *frame, name string) (*allowed, error) {
	path := c.path(name)
	switch path {
	case "devices/hostdev":
		if !c.p.AllowHostdev {
			return nil, fmt.Errorf("%s is not allowed: it passes a host device through (DomainPolicy.AllowHostdev permits it)", c.where(name))
		}
		return nil, nil // taken whole
	case "devices/filesystem":
		if !c.p.AllowFilesystems {
			return nil, fmt.Errorf("%s is not allowed: it shares a host directory with the guest (DomainPolicy.AllowFilesystems permits it)", c.where(name))
		}
		return filesystemNode, nil
	case "devices/interface/script", "devices/interface/downscript":
		if !c.p.AllowInterfaceScripts {
			return nil, fmt.Errorf("%s is not allowed: it runs a host program (DomainPolicy.AllowInterfaceScripts permits it)", c.where(name))
		}
		return scriptNode, nil
	}
	n := par.node.kids[name]
	if n == nil {
		return nil, fmt.Errorf("element %s is not allowed", c.where(name))
	}
	return n, nil
}

var (
	scriptNode     = &allowed{attrs: map[string]bool{"path": true}, kids: map[string]*allowed{}}
	filesystemNode = func() *allowed {
		n := &allowed{attrs: map[string]bool{}, kids: map[string]*allowed{}}
		for _, a := range []string{"type", "accessmode", "model", "multidevs", "fmode", "dmode"} {
			n.attrs[a] = true
		}
		kid := func(name string, attrs ...string) {
			k := &allowed{attrs: map[string]bool{}, kids: map[string]*allowed{}}
			for _, a := range attrs {
				k.attrs[a] = true
			}
			n.kids[name] = k
		}
		kid("driver", "type", "format", "wrpolicy", "queue")
		kid("source", "dir", "file")
		kid("target", "dir")
		kid("readonly")
		kid("address", strings.Fields("type domain bus slot function multifunction")...)
		kid("alias", "name")
		return n
	}()
)

// attrs refuses attributes the allowlist does not name. Namespace
// declarations are allowed on <domain> only.
func (c *checker) attrs(e xml.StartElement, n *allowed, root bool) error {
	for _, a := range e.Attr {
		switch {
		case a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns"):
			if !root {
				return fmt.Errorf("namespace declaration on %s is not allowed (only on <domain>)", c.where(e.Name.Local))
			}
		case a.Name.Space != "":
			return fmt.Errorf("attribute %s:%s of %s is not allowed", clip(a.Name.Space), clip(a.Name.Local), c.where(e.Name.Local))
		case !n.attrs[a.Name.Local]:
			return fmt.Errorf("attribute %s of %s is not allowed", clip(a.Name.Local), c.where(e.Name.Local))
		}
	}
	return nil
}

// element checks what an allowed element asks of the host, when it opens.
func (c *checker) element(par *frame, f *frame) error {
	e := f.start
	path := c.path(f.name)
	switch {
	case path == "devices/disk":
		c.disks++
		typ, dev := attr(e, "type"), attr(e, "device")
		if typ != "file" && typ != "block" {
			return fmt.Errorf("disk %d: %s type %q is not allowed: only file and block disks, whose paths are checked", c.disks, c.where(f.name), clip(typ))
		}
		if dev != "" && dev != "disk" && dev != "cdrom" && dev != "floppy" && dev != "lun" {
			return fmt.Errorf("disk %d: %s device %q is not allowed", c.disks, c.where(f.name), clip(dev))
		}
	case path == "devices/disk/source" || strings.HasSuffix(path, "backingStore/source"):
		if par.sources++; par.sources > 1 {
			return fmt.Errorf("disk %d: %s has more than one <source>", c.disks, c.whereOpen())
		}
		for _, a := range []string{"file", "dev"} {
			if v, ok := attrOK(e, a); ok {
				if err := c.file(v, c.where(f.name)+" "+a, c.p.ImageRoots, "DomainPolicy.ImageRoots"); err != nil {
					return fmt.Errorf("disk %d: %w", c.disks, err)
				}
			}
		}
	case strings.HasSuffix(path, "backingStore"):
		if typ := attr(e, "type"); typ != "" && typ != "file" && typ != "block" {
			return fmt.Errorf("disk %d: %s type %q is not allowed: only file and block backing stores", c.disks, c.where(f.name), clip(typ))
		}
	case path == "devices/filesystem/source":
		for _, a := range []string{"dir", "file"} {
			if v, ok := attrOK(e, a); ok {
				if err := c.file(v, c.where(f.name)+" "+a, c.p.ImageRoots, "DomainPolicy.ImageRoots"); err != nil {
					return err
				}
			}
		}
	case path == "os/nvram":
		if v, ok := attrOK(e, "template"); ok {
			if err := c.file(v, c.where(f.name)+" template", c.p.FirmwareRoots, "DomainPolicy.FirmwareRoots"); err != nil {
				return err
			}
		}
	case path == "seclabel":
		if (attr(e, "type") == "none" || attr(e, "model") == "none") && !c.p.AllowUnconfined {
			return fmt.Errorf("%s type or model 'none' is not allowed: it runs the VM unconfined (DomainPolicy.AllowUnconfined permits it)", c.where(f.name))
		}
	case path == "devices/interface":
		switch typ := attr(e, "type"); typ {
		case "network", "bridge", "direct", "user", "ethernet":
		case "hostdev":
			if !c.p.AllowHostdev {
				return fmt.Errorf("%s type 'hostdev' is not allowed: it passes a host device through (DomainPolicy.AllowHostdev permits it)", c.where(f.name))
			}
		default:
			return fmt.Errorf("%s type %q is not allowed", c.where(f.name), clip(typ))
		}
	case isChardev(path):
		return c.chardev(f)
	case isChardev(c.pathOpen()) && (f.name == "source" || f.name == "log"):
		return c.chardevPart(par, f)
	case path == "devices/graphics":
		if typ := attr(e, "type"); typ != "vnc" && typ != "spice" {
			return fmt.Errorf("%s type %q is not allowed: only vnc and spice", c.where(f.name), clip(typ))
		}
	case path == "devices/redirdev":
		if typ := attr(e, "type"); typ != "spicevmc" {
			return fmt.Errorf("%s type %q is not allowed: only spicevmc (the client's USB devices, not the host's)", c.where(f.name), clip(typ))
		}
	case path == "devices/audio":
		if typ := attr(e, "type"); typ != "none" && typ != "spice" {
			return fmt.Errorf("%s type %q is not allowed: it reaches the host's audio or files (only none and spice)", c.where(f.name), clip(typ))
		}
	case path == "devices/input":
		if typ := attr(e, "type"); typ != "tablet" && typ != "mouse" && typ != "keyboard" {
			return fmt.Errorf("%s type %q is not allowed: only tablet, mouse and keyboard", c.where(f.name), clip(typ))
		}
	case path == "devices/rng/backend":
		if m := attr(e, "model"); m != "random" && m != "builtin" {
			return fmt.Errorf("%s model %q is not allowed: only random and builtin", c.where(f.name), clip(m))
		}
	case path == "devices/tpm/backend":
		switch typ := attr(e, "type"); {
		case typ == "emulator":
		case typ == "passthrough" && c.p.AllowHostdev:
		default:
			return fmt.Errorf("%s type %q is not allowed: only emulator (passthrough needs DomainPolicy.AllowHostdev)", c.where(f.name), clip(typ))
		}
	}
	return nil
}

func isChardev(path string) bool {
	switch path {
	case "devices/serial", "devices/console", "devices/parallel", "devices/channel":
		return true
	}
	return false
}

// chardev checks a serial, console, parallel or channel device's type.
func (c *checker) chardev(f *frame) error {
	switch typ := attr(f.start, "type"); typ {
	case "pty", "null", "vc", "spicevmc", "spiceport", "qemu-vdagent", "unix":
		return nil // unix: its source path is checked by chardevPart
	case "file", "pipe", "dev", "tcp", "udp", "stdio", "nmdm":
		if c.p.AllowHostChardevs {
			return nil
		}
		return fmt.Errorf("%s type %q is not allowed: it reaches the host's files, devices or network (DomainPolicy.AllowHostChardevs permits it)", c.where(f.name), clip(typ))
	default:
		return fmt.Errorf("%s type %q is not allowed", c.where(f.name), clip(typ))
	}
}

// chardevPart checks a character device's <source> and <log>.
func (c *checker) chardevPart(dev, f *frame) error {
	if c.p.AllowHostChardevs {
		return nil
	}
	typ := attr(dev.start, "type")
	if f.name == "log" {
		if _, ok := attrOK(f.start, "file"); ok {
			return fmt.Errorf("%s file is not allowed: it writes guest output to a host file (DomainPolicy.AllowHostChardevs permits it)", c.where(f.name))
		}
		return nil
	}
	p, ok := attrOK(f.start, "path")
	switch {
	case !ok, typ == "pty": // a pty's path is libvirt's output, ignored on input
		return nil
	case typ == "unix" && cleanAbs(p) && under(p, libvirtChannelDirs):
		return nil // a socket libvirt made for itself (the guest agent's)
	}
	return fmt.Errorf("%s path %q is not allowed: it puts a socket or file at a host path (DomainPolicy.AllowHostChardevs permits it)", c.where(f.name), clipPath(p))
}

// close checks an element's text, then closes it.
func (c *checker) close() error {
	f := c.parent()
	if f == nil {
		return errors.New("an end tag without a start")
	}
	if f.node != nil {
		if err := c.text(f); err != nil {
			return err
		}
	}
	c.stack = c.stack[:len(c.stack)-1]
	c.done = len(c.stack) == 0
	return nil
}

// text checks the elements whose text names a host file or program.
func (c *checker) text(f *frame) error {
	v := strings.TrimSpace(f.text.String())
	switch c.pathOpen() {
	case "os/kernel", "os/initrd", "os/dtb":
		if v == "" {
			return nil
		}
		return c.file(v, c.whereOpen(), c.p.ImageRoots, "DomainPolicy.ImageRoots")
	case "os/nvram":
		if v == "" {
			return nil
		}
		return c.file(v, c.whereOpen(), slices.Concat(c.p.NVRAMRoots, c.p.ImageRoots), "DomainPolicy.NVRAMRoots or ImageRoots")
	case "os/loader":
		if v == "" {
			return nil
		}
		return c.file(v, c.whereOpen(), c.p.FirmwareRoots, "DomainPolicy.FirmwareRoots")
	case "devices/emulator":
		if !slices.Contains(c.p.Emulators, v) {
			return fmt.Errorf("<devices><emulator> %q is not one of DomainPolicy.Emulators %q", clipPath(v), c.p.Emulators)
		}
	case "devices/rng/backend":
		switch v {
		case "", "/dev/random", "/dev/urandom", "/dev/hwrng":
		default:
			return fmt.Errorf("<devices><rng><backend> %q is not allowed: only /dev/random, /dev/urandom or /dev/hwrng", clip(v))
		}
	}
	return nil
}

// file checks that path p, named by what, lies under one of roots.
func (c *checker) file(p, what string, roots []string, field string) error {
	switch {
	case !cleanAbs(p):
		return fmt.Errorf("%s %q is not a clean absolute path", what, clipPath(p))
	case !under(p, roots):
		return fmt.Errorf("%s %q is not under %s %q", what, clipPath(p), field, roots)
	}
	if under(p, c.p.ImageRoots) {
		c.files = append(c.files, p)
	}
	return nil
}

// attrOK returns the value of e's attribute name and whether it is set.
func attrOK(e xml.StartElement, name string) (string, bool) {
	for _, a := range e.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// clipPath shortens a path quoted in an error, less than clip does: the
// path is what the reader must find.
func clipPath(p string) string {
	const max = 512
	if len(p) > max {
		return p[:max] + "..."
	}
	return p
}
