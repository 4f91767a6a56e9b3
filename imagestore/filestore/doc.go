// Package filestore is an imagestore.Store that keeps one JSON file per
// image in a directory.
//
// Writes are atomic: a Put writes a temporary file in the same directory,
// syncs it, renames it over the image's file and syncs the directory, so a
// crash at any point leaves either the previous version or the new one,
// never a mix. Temporary files left by a crash are ignored.
//
// Put's compare-and-swap holds across every *Store on the same directory,
// in one process or several: each Put takes an exclusive flock on the
// directory's lock file (".lock") as well as the Store's own mutex. The
// lock is advisory and needs a local file system (flock on NFS is not
// reliable). All methods of a *Store are safe for concurrent use.
//
// Image names are encoded into file names (see fileName), so any name is
// accepted and none can leave the directory.
package filestore
