package libvirthv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/rackha/failover/imagestore"
)

// A memory checkpoint resumes once, by the claim right after it was
// recorded: memory saved before the VM ran on would be restored over
// disks that have moved on, and corrupt them. Libvirt itself restores a
// save file as often as asked, so the adapter consumes the file: it is
// renamed aside (atomically, on the shared checkpoint storage) before the
// restore and removed after it. This needs the save file's path to be
// reachable from this process, as Config.CheckpointDir is.

// consumedSuffix marks a save file taken for a restore under way.
const consumedSuffix = ".resuming"

// checkResumeGeneration refuses a checkpoint of another generation.
func checkResumeGeneration(img imagestore.Image) error {
	if img.Generation != img.CheckpointGeneration+1 {
		return badImage(img.Name, fmt.Errorf("checkpoint %q was recorded at generation %d, so only generation %d may resume it, not %d",
			img.Checkpoint, img.CheckpointGeneration, img.CheckpointGeneration+1, img.Generation))
	}
	return nil
}

// checkCheckpointPath refuses a checkpoint outside Config.CheckpointDir:
// a save file names the memory, and the XML, a VM comes back with.
func (h *Hypervisor) checkCheckpointPath(img imagestore.Image) error {
	dir := h.cfg.CheckpointDir
	switch {
	case dir == "":
		return badImage(img.Name, fmt.Errorf("checkpoint %q: Config.CheckpointDir is empty, so this host resumes no checkpoint", img.Checkpoint))
	case !cleanAbs(img.Checkpoint):
		return badImage(img.Name, fmt.Errorf("checkpoint %q is not a clean absolute path", img.Checkpoint))
	case !under(img.Checkpoint, []string{dir}):
		return badImage(img.Name, fmt.Errorf("checkpoint %q is not under Config.CheckpointDir %q", img.Checkpoint, dir))
	}
	return nil
}

// checkNotConsumed refuses a save file that is gone: resumed already.
func checkNotConsumed(img imagestore.Image) error {
	_, err := os.Stat(img.Checkpoint)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return badImage(img.Name, fmt.Errorf("checkpoint %q does not exist: a save file is removed once resumed, so it was resumed already (or never written)", img.Checkpoint))
	case err != nil:
		return badImage(img.Name, fmt.Errorf("checkpoint %q cannot be read: %w", img.Checkpoint, err))
	}
	return nil
}

// consume takes the save file for one restore: it returns the path to
// restore from, and put, which gives the file back (after a restore that
// surely did not happen) or removes it (after one that did, or may have).
func consume(img imagestore.Image) (path string, put func(restored bool), err error) {
	path = img.Checkpoint + consumedSuffix
	if err := os.Rename(img.Checkpoint, path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, badImage(img.Name, fmt.Errorf("checkpoint %q was taken by another resume", img.Checkpoint))
		}
		return "", nil, badImage(img.Name, fmt.Errorf("checkpoint %q cannot be taken for resuming: %w", img.Checkpoint, err))
	}
	return path, func(restored bool) {
		if restored {
			os.Remove(path) //nolint:errcheck // a leftover is under a name no image refers to
			return
		}
		os.Rename(path, img.Checkpoint) //nolint:errcheck // if this fails the checkpoint stays unused: a cold start follows
	}, nil
}
