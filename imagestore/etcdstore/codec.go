package etcdstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/rackha/failover/imagestore"
)

// ErrCorrupt marks a stored value that cannot be decoded, or that holds
// another image than its key says. The error names the key.
var ErrCorrupt = errors.New("failover: corrupt image value in etcd")

// valueFormat is the version of the stored JSON; values of any other
// version are refused, so an older reader never misreads a newer value.
// Fields that are zero are omitted; a field added later must keep zero
// meaning "absent", so values written before it still decode.
const valueFormat = 1

// value is the stored JSON form of an image. Definition is base64.
type value struct {
	Format               int      `json:"format"`
	Name                 string   `json:"name"`
	Generation           uint64   `json:"generation"`
	Owner                string   `json:"owner"`
	PreviousOwner        string   `json:"previousOwner,omitempty"`
	Priority             int      `json:"priority,omitempty"`
	MemoryMiB            int64    `json:"memoryMiB,omitempty"`
	CPUs                 int      `json:"cpus,omitempty"`
	Disks                []string `json:"disks,omitempty"`
	Checkpoint           string   `json:"checkpoint,omitempty"`
	CheckpointGeneration uint64   `json:"checkpointGeneration,omitempty"`
	Definition           []byte   `json:"definition,omitempty"`
}

// checkText refuses strings JSON cannot carry unchanged: encoding/json
// replaces invalid UTF-8, so the image read back would differ.
func checkText(img imagestore.Image) error {
	fields := map[string]string{"Name": img.Name, "Owner": img.Owner, "PreviousOwner": img.PreviousOwner, "Checkpoint": img.Checkpoint}
	for _, f := range []string{"Name", "Owner", "PreviousOwner", "Checkpoint"} {
		if !utf8.ValidString(fields[f]) {
			return fmt.Errorf("%w: image %q: %s %q is not valid UTF-8", imagestore.ErrInvalidImage, img.Name, f, fields[f])
		}
	}
	for i, d := range img.Disks {
		if !utf8.ValidString(d) {
			return fmt.Errorf("%w: image %q: Disks[%d] %q is not valid UTF-8", imagestore.ErrInvalidImage, img.Name, i, d)
		}
	}
	return nil
}

// encode returns img's stored form. img has passed Validate and checkText.
func encode(img imagestore.Image) ([]byte, error) {
	b, err := json.Marshal(value{
		Format: valueFormat, Name: img.Name, Generation: img.Generation,
		Owner: img.Owner, PreviousOwner: img.PreviousOwner, Priority: img.Priority,
		MemoryMiB: img.MemoryMiB, CPUs: img.CPUs, Disks: img.Disks,
		Checkpoint: img.Checkpoint, CheckpointGeneration: img.CheckpointGeneration,
		Definition: img.Definition,
	})
	if err != nil {
		return nil, fmt.Errorf("etcdstore: encode image %q: %w", img.Name, err)
	}
	return b, nil
}

// decode parses the value stored at key, which must hold image name. Any
// problem wraps ErrCorrupt and names the key.
func decode(key, name string, data []byte) (imagestore.Image, error) {
	corrupt := func(format string, args ...any) (imagestore.Image, error) {
		return imagestore.Image{}, fmt.Errorf("etcdstore: key %q: %w: %s", key, ErrCorrupt, fmt.Sprintf(format, args...))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var v value
	if err := dec.Decode(&v); err != nil {
		return corrupt("%v", err)
	}
	if dec.More() {
		return corrupt("data after the JSON object")
	}
	switch {
	case v.Format != valueFormat:
		return corrupt("format %d, want %d", v.Format, valueFormat)
	case v.Name != name:
		return corrupt("holds image %q, want %q", v.Name, name)
	case v.Generation == 0:
		return corrupt("generation 0")
	}
	img := imagestore.Image{
		Name: v.Name, Definition: v.Definition, Disks: v.Disks,
		Checkpoint: v.Checkpoint, CheckpointGeneration: v.CheckpointGeneration,
		Owner: v.Owner, PreviousOwner: v.PreviousOwner, Generation: v.Generation,
		Priority: v.Priority, MemoryMiB: v.MemoryMiB, CPUs: v.CPUs,
	}
	if err := img.Validate(); err != nil {
		return corrupt("%v", err)
	}
	return img, nil
}
