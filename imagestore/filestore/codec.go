package filestore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rackha/failover/imagestore"
)

// ErrCorrupt marks an image file that cannot be decoded or does not hold
// the image its name says.
var ErrCorrupt = errors.New("failover: corrupt image file")

// formatVersion is the file format's version; files of another version
// are refused. Fields added later are optional (omitted when zero), so
// files written before them still decode, with those fields zero.
const formatVersion = 1

// record is the JSON form of an image. Definition is base64 (opaque
// bytes). checkpointGeneration and previousOwner came later: older files
// lack them.
type record struct {
	Version              int      `json:"version"`
	Name                 string   `json:"name"`
	Definition           []byte   `json:"definition,omitempty"`
	Disks                []string `json:"disks,omitempty"`
	Checkpoint           string   `json:"checkpoint,omitempty"`
	CheckpointGeneration uint64   `json:"checkpointGeneration,omitempty"`
	Owner                string   `json:"owner"`
	PreviousOwner        string   `json:"previousOwner,omitempty"`
	Generation           uint64   `json:"generation"`
	Priority             int      `json:"priority,omitempty"`
	MemoryMiB            int64    `json:"memoryMiB,omitempty"`
	CPUs                 int      `json:"cpus,omitempty"`
}

func encode(img imagestore.Image) ([]byte, error) {
	b, err := json.MarshalIndent(record{
		Version: formatVersion, Name: img.Name, Definition: img.Definition, Disks: img.Disks,
		Checkpoint: img.Checkpoint, CheckpointGeneration: img.CheckpointGeneration,
		Owner: img.Owner, PreviousOwner: img.PreviousOwner, Generation: img.Generation,
		Priority: img.Priority, MemoryMiB: img.MemoryMiB, CPUs: img.CPUs,
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("filestore: encode %q: %w", img.Name, err)
	}
	return append(b, '\n'), nil
}

// decode parses the contents of file, which must hold image want. Any
// problem wraps ErrCorrupt and names the file.
func decode(file, want string, data []byte) (imagestore.Image, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r record
	if err := dec.Decode(&r); err != nil {
		return imagestore.Image{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, file, err)
	}
	if dec.More() {
		return imagestore.Image{}, fmt.Errorf("%w: %s: data after the JSON object", ErrCorrupt, file)
	}
	img := imagestore.Image{
		Name: r.Name, Definition: r.Definition, Disks: r.Disks,
		Checkpoint: r.Checkpoint, CheckpointGeneration: r.CheckpointGeneration,
		Owner: r.Owner, PreviousOwner: r.PreviousOwner,
		Generation: r.Generation, Priority: r.Priority, MemoryMiB: r.MemoryMiB, CPUs: r.CPUs,
	}
	switch {
	case r.Version != formatVersion:
		return imagestore.Image{}, fmt.Errorf("%w: %s: format version %d, want %d", ErrCorrupt, file, r.Version, formatVersion)
	case r.Name != want:
		return imagestore.Image{}, fmt.Errorf("%w: %s: holds image %q, want %q", ErrCorrupt, file, r.Name, want)
	case r.Generation == 0:
		return imagestore.Image{}, fmt.Errorf("%w: %s: generation 0", ErrCorrupt, file)
	}
	if err := img.Validate(); err != nil {
		return imagestore.Image{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, file, err)
	}
	return img, nil
}
