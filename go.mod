module github.com/rackha/failover

go 1.26
