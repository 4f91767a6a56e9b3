package redfishsim

import (
	"fmt"
	"os"
	"path/filepath"
)

// MockupDir returns the folder of the DMTF mockup name (public-bladed,
// public-tower) in the shared folder beside the module:
// <module root>/../shared/redfish-mockups/<name>. The module root is
// found from the working directory upward (go test runs in the package).
// The environment variable REDFISH_MOCKUPS, when set, names the folder of
// mockups instead (a worktree that is not beside the shared folder).
func MockupDir(name string) (string, error) {
	if root := os.Getenv("REDFISH_MOCKUPS"); root != "" {
		m := filepath.Join(root, name)
		if _, err := os.Stat(filepath.Join(m, "index.json")); err != nil {
			return "", fmt.Errorf("redfishsim: mockup %s not found under REDFISH_MOCKUPS=%s: %w", name, root, err)
		}
		return filepath.Clean(m), nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("redfishsim: no go.mod above the working directory")
		}
		dir = parent
	}
	m := filepath.Join(dir, "..", "shared", "redfish-mockups", name)
	if _, err := os.Stat(filepath.Join(m, "index.json")); err != nil {
		return "", fmt.Errorf("redfishsim: mockup %s not found at %s: %w", name, m, err)
	}
	return filepath.Clean(m), nil
}
