package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrConfig marks every configuration error; exit status 2.
var ErrConfig = errors.New("failoverd: bad config")

// ConfigError names the file, the line and the field of one problem.
type ConfigError struct {
	File  string
	Line  int
	Field string // dotted path: servers[1].bmc.cipher_suite
	Msg   string
	Err   error // the library's error, when it refused a value
}

func (e *ConfigError) Error() string {
	s := fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap gives ErrConfig and the library's error.
func (e *ConfigError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrConfig, e.Err}
	}
	return []error{ErrConfig}
}

// LoadConfig reads and checks path. Every error is a *ConfigError.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{File: path, Line: 0, Field: "(file)", Msg: "cannot read", Err: err}
	}
	return ParseConfig(path, data)
}

// ParseConfig decodes data (named file in messages) and validates it.
func ParseConfig(file string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(file, err, nil)
	}
	if len(root.Content) == 0 {
		return nil, &ConfigError{File: file, Line: 1, Field: "(file)", Msg: "is empty"}
	}
	cfg := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return nil, yamlError(file, err, root.Content[0])
	}
	cfg.File = file
	v := &checker{file: file, root: root.Content[0]}
	cfg.check(v)
	if v.err != nil {
		return nil, v.err
	}
	return cfg, nil
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)
var unknownField = regexp.MustCompile(`field (\S+) not found in type main\.(\w+)`)

// yamlError turns yaml.v3's error into a ConfigError: the first problem,
// with its line, and an unknown field named as such.
func yamlError(file string, err error, root *yaml.Node) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	ce := &ConfigError{File: file, Field: "(syntax)", Msg: msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		ce.Line, _ = strconv.Atoi(m[1])
		ce.Msg = m[2]
		if u := unknownField.FindStringSubmatch(m[2]); u != nil {
			ce.Field, ce.Msg = u[1], "unknown field (in "+sectionName(u[2])+"; see the schema in cmd/failoverd/README.md)"
			if p := keyPath(root, ce.Line, u[1], ""); p != "" {
				ce.Field = p
			}
		} else {
			ce.Field = "(value)"
			if p := keyPath(root, ce.Line, "", ""); p != "" {
				ce.Field = p
			}
		}
	}
	return ce
}

// sectionName is the YAML section a Go config type decodes.
func sectionName(goType string) string {
	switch goType {
	case "Config":
		return "the top level"
	case "ServerConfig":
		return "servers[]"
	case "BMCConfig":
		return "servers[].bmc"
	case "HypervisorConfig":
		return "servers[].hypervisor"
	case "WatchdogConfig":
		return "servers[].watchdog"
	case "RackManagerConfig":
		return "rack_manager"
	case "ImageStoreConfig":
		return "image_store"
	case "TLSConfig":
		return "tls"
	case "EtcdConfig":
		return "etcd"
	case "EtcdTLSConfig":
		return "etcd.tls"
	case "LeaseConfig":
		return "lease"
	case "CertPair":
		return "a tls/operator section (cert, key)"
	case "MonitorConfig":
		return "monitor"
	case "PolicyConfig":
		return "policy"
	case "LogConfig":
		return "log"
	case "DemoConfig":
		return "demo"
	}
	return goType
}

// checker collects the first validation error, placed by its path.
type checker struct {
	file string
	root *yaml.Node
	err  error
}

// fail records msg (and the library's err) at path, unless an earlier
// problem was recorded.
func (c *checker) fail(path, msg string, err error) {
	if c.err != nil {
		return
	}
	c.err = &ConfigError{File: c.file, Line: c.line(path), Field: path, Msg: msg, Err: err}
}

func (c *checker) failed() bool { return c.err != nil }

// line finds path's node (its key's line), or the deepest node on the
// way when the field is not in the file.
func (c *checker) line(path string) int {
	n := c.root
	line := n.Line
	for _, seg := range splitPath(path) {
		if n == nil {
			break
		}
		next := (*yaml.Node)(nil)
		if idx, err := strconv.Atoi(seg); err == nil {
			if n.Kind == yaml.SequenceNode && idx < len(n.Content) {
				next = n.Content[idx]
				line = next.Line
			}
		} else if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					line = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
		}
		n = next
	}
	return line
}

// splitPath splits "servers[1].bmc.url" into servers, 1, bmc, url.
func splitPath(p string) []string {
	p = strings.NewReplacer("[", ".", "]", "").Replace(p)
	return strings.Split(p, ".")
}

// keyPath is the dotted path of the mapping key named key (any key when
// key is "") on line, or "".
func keyPath(n *yaml.Node, line int, key, prefix string) string {
	if n == nil {
		return ""
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p := k.Value
			if prefix != "" {
				p = prefix + "." + k.Value
			}
			if (key == "" || k.Value == key) && k.Line == line {
				return p
			}
			if found := keyPath(n.Content[i+1], line, key, p); found != "" {
				return found
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if found := keyPath(c, line, key, fmt.Sprintf("%s[%d]", prefix, i)); found != "" {
				return found
			}
		}
	}
	return ""
}
