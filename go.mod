module github.com/rackha/failover

go 1.26

require (
	github.com/bougou/go-ipmi v0.9.1 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/stmcginnis/gofish v0.26.0 // indirect
	github.com/vmware/govmomi v0.56.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
	libvirt.org/go/libvirt v1.12002.0 // indirect
	pgregory.net/rapid v1.3.0 // indirect
)
