package filestore

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/rackha/failover/imagestore"
)

const (
	ext = ".json"
	// maxFileName leaves room below the usual 255-byte limit.
	maxFileName = 240
)

// safe reports whether c is kept as is in a file name.
func safe(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

// fileName encodes an image name as a file name: letters, digits, '-',
// '_' and '.' stay, every other byte (and a leading '.') becomes %XX, and
// ".json" is appended. Names that encode to more than 240 bytes are
// refused with ErrInvalidImage. Encoded names never start with '.', so
// they never clash with the lock file or temporary files.
func fileName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty Name", imagestore.ErrInvalidImage)
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if safe(c) && !(i == 0 && c == '.') && c != '%' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	b.WriteString(ext)
	if b.Len() > maxFileName {
		return "", fmt.Errorf("%w: name %.40q... encodes to %d bytes, more than %d", imagestore.ErrInvalidImage, name, b.Len(), maxFileName)
	}
	return b.String(), nil
}

// imageName decodes a file name made by fileName; ok is false for any
// other file (temporary files, the lock file, strays).
func imageName(file string) (string, bool) {
	if !strings.HasSuffix(file, ext) || strings.HasPrefix(file, ".") {
		return "", false
	}
	enc := strings.TrimSuffix(file, ext)
	var b strings.Builder
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		if c != '%' {
			if !safe(c) {
				return "", false
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(enc) {
			return "", false
		}
		v, err := hex.DecodeString(enc[i+1 : i+3])
		if err != nil {
			return "", false
		}
		b.Write(v)
		i += 2
	}
	name := b.String()
	// Only the canonical encoding counts, so one name has one file.
	if again, err := fileName(name); err != nil || again != file {
		return "", false
	}
	return name, true
}
