package libvirthv

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// domain is what the adapter reads from libvirt domain XML.
type domain struct {
	Name      string
	UUID      string // canonical: lower case, dashed
	MemoryMiB int64
	CPUs      int
	Disks     []string // sources of file and block disks, in order
}

type xmlDomain struct {
	XMLName xml.Name `xml:"domain"`
	Name    string   `xml:"name"`
	UUID    string   `xml:"uuid"`
	Memory  *struct {
		Value string `xml:",chardata"`
		Unit  string `xml:"unit,attr"`
	} `xml:"memory"`
	VCPU *struct {
		Value   string `xml:",chardata"`
		Current string `xml:"current,attr"`
	} `xml:"vcpu"`
	Disks []struct {
		Type   string `xml:"type,attr"`
		Device string `xml:"device,attr"`
		Source *struct {
			File string `xml:"file,attr"`
			Dev  string `xml:"dev,attr"`
		} `xml:"source"`
	} `xml:"devices>disk"`
}

// maxDefinition bounds the domain XML the adapter reads.
const maxDefinition = 4 << 20

// parseDomain reads and checks domain XML. Errors say what is wrong but
// do not quote the XML, which may hold secrets.
func parseDomain(def []byte) (domain, error) {
	if len(def) == 0 {
		return domain{}, errors.New("domain XML is empty")
	}
	if len(def) > maxDefinition {
		return domain{}, fmt.Errorf("domain XML is %d bytes, more than %d", len(def), maxDefinition)
	}
	var x xmlDomain
	dec := xml.NewDecoder(bytes.NewReader(def))
	if err := dec.Decode(&x); err != nil {
		return domain{}, fmt.Errorf("domain XML does not parse: %s", xmlErr(err))
	}
	if err := trailingOnlyMisc(dec); err != nil {
		return domain{}, err
	}
	d := domain{Name: strings.TrimSpace(x.Name)}
	if d.Name == "" {
		return domain{}, errors.New("domain XML has no <name>")
	}
	if strings.ContainsAny(d.Name, "/\x00") || d.Name == "." || d.Name == ".." {
		return domain{}, fmt.Errorf("domain name %q is not allowed", d.Name)
	}
	uuid, err := canonicalUUID(x.UUID)
	if err != nil {
		return domain{}, err
	}
	d.UUID = uuid
	if x.Memory == nil {
		return domain{}, errors.New("domain XML has no <memory>")
	}
	if d.MemoryMiB, err = memoryMiB(x.Memory.Value, x.Memory.Unit); err != nil {
		return domain{}, err
	}
	d.CPUs = 1
	if x.VCPU != nil {
		v := x.VCPU.Value
		if x.VCPU.Current != "" {
			v = x.VCPU.Current
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 || n > 1<<16 {
			return domain{}, fmt.Errorf("domain XML <vcpu> %q is not a CPU count", clip(v))
		}
		d.CPUs = n
	}
	for i, disk := range x.Disks {
		src, ok, err := diskSource(disk.Type, disk.Device, disk.Source != nil, func() (string, string) {
			return disk.Source.File, disk.Source.Dev
		})
		if err != nil {
			return domain{}, fmt.Errorf("disk %d: %w", i, err)
		}
		if ok {
			d.Disks = append(d.Disks, src)
		}
	}
	return d, nil
}

// diskSource returns the path of a file or block disk; ok is false for
// other disks (network, volume, cdrom, floppy).
func diskSource(typ, device string, hasSource bool, attrs func() (file, dev string)) (string, bool, error) {
	if !isPathDisk(typ, device) {
		return "", false, nil
	}
	if !hasSource {
		return "", false, fmt.Errorf("%s disk has no <source>", typ)
	}
	file, dev := attrs()
	src := file
	if typ == "block" {
		src = dev
	}
	if src == "" {
		return "", false, fmt.Errorf("%s disk has an empty source", typ)
	}
	return src, true, nil
}

// isPathDisk reports whether a disk is a hard disk named by a path.
func isPathDisk(typ, device string) bool {
	return (device == "" || device == "disk") && (typ == "file" || typ == "block")
}

// trailingOnlyMisc refuses a second element after the domain.
func trailingOnlyMisc(dec *xml.Decoder) error {
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("domain XML has broken trailing content: %s", xmlErr(err))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return fmt.Errorf("domain XML has a second element <%s> after </domain>", clip(t.Name.Local))
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return errors.New("domain XML has text after </domain>")
			}
		}
	}
}

func canonicalUUID(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", errors.New("domain XML has no <uuid>: without one a VM cannot be told from another of the same name")
	}
	hex := strings.ReplaceAll(s, "-", "")
	if len(hex) != 32 || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", fmt.Errorf("domain XML <uuid> %q is not a UUID", clip(s))
	}
	return hex[0:8] + "-" + hex[8:12] + "-" + hex[12:16] + "-" + hex[16:20] + "-" + hex[20:32], nil
}

// memoryMiB converts a libvirt scaled integer to MiB, rounding up.
func memoryMiB(value, unit string) (int64, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("domain XML <memory> %q is not a positive integer", clip(value))
	}
	var scale uint64
	switch strings.ToLower(strings.TrimSpace(unit)) {
	case "b", "bytes":
		scale = 1
	case "", "k", "kib":
		scale = 1 << 10
	case "kb":
		scale = 1000
	case "m", "mib":
		scale = 1 << 20
	case "mb":
		scale = 1000 * 1000
	case "g", "gib":
		scale = 1 << 30
	case "gb":
		scale = 1000 * 1000 * 1000
	case "t", "tib":
		scale = 1 << 40
	case "tb":
		scale = 1000 * 1000 * 1000 * 1000
	default:
		return 0, fmt.Errorf("domain XML <memory> unit %q is unknown", clip(unit))
	}
	if n > math.MaxUint64/scale {
		return 0, fmt.Errorf("domain XML <memory> %s %s overflows", clip(value), clip(unit))
	}
	mib := (n*scale + (1<<20 - 1)) >> 20
	if mib > math.MaxInt64 || n*scale > math.MaxUint64-(1<<20-1) {
		return 0, fmt.Errorf("domain XML <memory> %s %s overflows", clip(value), clip(unit))
	}
	return int64(mib), nil
}

// withDisks returns def with the sources of its file and block disks
// replaced by disks, in order, leaving every other byte as it was.
func withDisks(def []byte, disks []string) ([]byte, error) {
	type span struct {
		start, end int64
		tag        xml.StartElement
		attr       string
	}
	var spans []span
	dec := xml.NewDecoder(bytes.NewReader(def))
	var stack []xml.StartElement
	for {
		start := dec.InputOffset()
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("domain XML does not parse: %s", xmlErr(err))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			t = t.Copy()
			n := len(stack)
			if t.Name.Local == "source" && n == 3 && stack[0].Name.Local == "domain" &&
				stack[1].Name.Local == "devices" && stack[2].Name.Local == "disk" {
				typ, dev := attr(stack[2], "type"), attr(stack[2], "device")
				if isPathDisk(typ, dev) {
					name := "file"
					if typ == "block" {
						name = "dev"
					}
					spans = append(spans, span{start: start, end: dec.InputOffset(), tag: t, attr: name})
				}
			}
			stack = append(stack, t)
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if len(spans) != len(disks) {
		return nil, fmt.Errorf("domain XML has %d file or block disks, the image names %d", len(spans), len(disks))
	}
	var out bytes.Buffer
	last := int64(0)
	for i, s := range spans {
		if s.start < last || s.end > int64(len(def)) || s.start >= s.end {
			return nil, errors.New("domain XML disk offsets are inconsistent")
		}
		out.Write(def[last:s.start])
		raw := def[s.start:s.end]
		out.WriteString(startTag(s.tag, s.attr, disks[i], bytes.HasSuffix(bytes.TrimRight(raw, " \t\r\n"), []byte("/>"))))
		last = s.end
	}
	out.Write(def[last:])
	return out.Bytes(), nil
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// startTag writes e with attribute name set to value.
func startTag(e xml.StartElement, name, value string, selfClosing bool) string {
	var b strings.Builder
	b.WriteString("<" + qname(e.Name))
	set := false
	for _, a := range e.Attr {
		v := a.Value
		if a.Name.Space == "" && a.Name.Local == name {
			v, set = value, true
		}
		b.WriteString(" " + qname(a.Name) + `="`)
		xml.EscapeText(&b, []byte(v)) //nolint:errcheck // strings.Builder never fails
		b.WriteString(`"`)
	}
	if !set {
		b.WriteString(" " + name + `="`)
		xml.EscapeText(&b, []byte(value)) //nolint:errcheck // strings.Builder never fails
		b.WriteString(`"`)
	}
	if selfClosing {
		b.WriteString("/>")
	} else {
		b.WriteString(">")
	}
	return b.String()
}

func qname(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

// xmlErr describes a decoder error without quoting the document.
func xmlErr(err error) string {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("line %d: %s", se.Line, clip(se.Msg))
	}
	return clip(err.Error())
}

// clip shortens what is quoted from an image in an error.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
