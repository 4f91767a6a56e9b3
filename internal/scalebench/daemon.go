package scalebench

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Names in the certificates `failoverd certs` writes.
const (
	rackManagerName = "rack-manager" // the rack manager's DNS SAN
	operatorName    = "ops"          // reads GET /v1/rack (readiness, staleness)
)

// buildDaemon builds cmd/failoverd into dir and returns its path.
func buildDaemon(dir string) (string, error) {
	exe := filepath.Join(dir, "failoverd")
	out, err := exec.Command("go", "build", "-o", exe, "github.com/rackha/failover/cmd/failoverd").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("scalebench: go build ./cmd/failoverd: %v\n%s", err, out)
	}
	return exe, nil
}

// certFiles names the files `failoverd certs` writes in its directory.
type certFiles struct{ dir string }

func (c certFiles) ca() string              { return filepath.Join(c.dir, "ca.pem") }
func (c certFiles) cert(name string) string { return filepath.Join(c.dir, name+".pem") }
func (c certFiles) key(name string) string  { return filepath.Join(c.dir, name+"-key.pem") }

// makeCerts runs `failoverd certs` for servers (one CA for every rack;
// each rack manager presents the same rack-manager certificate).
func makeCerts(exe, dir string, servers []string) (certFiles, error) {
	c := certFiles{dir: filepath.Join(dir, "tls")}
	out, err := exec.Command(exe, "certs", "-dir", c.dir, "-servers", strings.Join(servers, ","), "-operator", operatorName).CombinedOutput()
	if err != nil {
		return certFiles{}, fmt.Errorf("scalebench: failoverd certs: %v\n%s", err, out)
	}
	return c, nil
}
