package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Rack manager replicas (rack_manager.replicas, advertise_url,
// election_ttl): elected through the etcd section; see rackmanager.go.

// defaultElectionTTL: a dead leader is replaced within about 5 s, while a
// loaded etcd or a GC pause of a second does not depose a live one.
const defaultElectionTTL = 5 * time.Second

// replicated: the rack manager runs as elected replicas.
func (c *Config) replicated() bool { return len(c.RackManager.Replicas) > 0 }

func (c *Config) checkReplicas(v *checker) {
	rm := &c.RackManager
	if !c.replicated() {
		switch {
		case rm.AdvertiseURL != "":
			v.fail("rack_manager.advertise_url", "is set but rack_manager.replicas is empty", nil)
		case rm.ElectionTTL != "":
			v.fail("rack_manager.election_ttl", "is set but rack_manager.replicas is empty", nil)
		}
		return
	}
	seen := map[string]int{}
	for i, r := range rm.Replicas {
		p := fmt.Sprintf("rack_manager.replicas[%d]", i)
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			v.fail(p, fmt.Sprintf("%q: want https://host:port (mutual TLS only)", r), nil)
			return
		}
		key := strings.TrimSuffix(r, "/")
		if j, dup := seen[key]; dup {
			v.fail(p, fmt.Sprintf("%q is also rack_manager.replicas[%d]", r, j), nil)
			return
		}
		seen[key] = i
	}
	if len(rm.Replicas) < 2 {
		v.fail("rack_manager.replicas", "lists one replica: list every replica (two or more), or none for a single rack manager", nil)
		return
	}
	if _, ok := seen[strings.TrimSuffix(c.advertiseURL(), "/")]; !ok {
		field := "rack_manager.advertise_url"
		if rm.AdvertiseURL == "" {
			field = "rack_manager.url"
		}
		v.fail(field, fmt.Sprintf("%q is not one of rack_manager.replicas: this replica must be listed", c.advertiseURL()), nil)
		return
	}
	if !c.Etcd.used() {
		v.fail("rack_manager.replicas", "needs the etcd section: the replicas elect their leader there", nil)
		return
	}
	if _, err := c.electionTTL(); err != nil {
		v.fail("rack_manager.election_ttl", err.Error(), nil)
	}
}

// advertiseURL is this replica's URL: advertise_url, else url.
func (c *Config) advertiseURL() string {
	if c.RackManager.AdvertiseURL != "" {
		return c.RackManager.AdvertiseURL
	}
	return c.RackManager.URL
}

func (c *Config) electionTTL() (time.Duration, error) {
	s := c.RackManager.ElectionTTL
	if s == "" {
		return defaultElectionTTL, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (write 5s)", s)
	}
	if d < time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("%q: want whole seconds, at least 1s (etcd leases count seconds)", s)
	}
	return d, nil
}

// rackManagerURLs are what a client tries: url first, then the other
// replicas.
func (c *Config) rackManagerURLs() (first string, others []string) {
	first = c.RackManager.URL
	for _, r := range c.RackManager.Replicas {
		if strings.TrimSuffix(r, "/") != strings.TrimSuffix(first, "/") {
			others = append(others, r)
		}
	}
	return first, others
}

// setAdvertise is the rack-manager role's -advertise URL: one of
// rack_manager.replicas.
func (c *Config) setAdvertise(u string) error {
	if !c.replicated() {
		return usageError("-advertise %q: %s has no rack_manager.replicas", u, c.File)
	}
	for _, r := range c.RackManager.Replicas {
		if strings.TrimSuffix(r, "/") == strings.TrimSuffix(u, "/") {
			c.RackManager.AdvertiseURL = r
			return nil
		}
	}
	return usageError("-advertise %q is not one of rack_manager.replicas %q in %s", u, c.RackManager.Replicas, c.File)
}
