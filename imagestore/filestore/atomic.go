package filestore

import (
	"fmt"
	"os"
	"path/filepath"
)

// tempPrefix starts every temporary file name; a leading '.' keeps them
// apart from image files.
const tempPrefix = ".tmp-"

// writeData writes the temporary file's contents; tests replace it to
// simulate a crash mid-write.
var writeData = func(f *os.File, data []byte) error {
	_, err := f.Write(data)
	return err
}

// writeAtomic replaces dir/name with data: temp file in dir, fsync,
// rename, fsync dir. On error the temp file is removed and the previous
// file is untouched.
func writeAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("filestore: create temp file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = writeData(f, data); err != nil {
		return fmt.Errorf("filestore: write %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("filestore: sync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("filestore: close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("filestore: rename %s: %w", tmp, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("filestore: open dir for sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("filestore: sync dir %s: %w", dir, err)
	}
	return nil
}
