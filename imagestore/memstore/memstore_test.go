package memstore_test

import (
	"testing"

	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/imagestoretest"
	"github.com/rackha/failover/imagestore/memstore"
)

func TestConformance(t *testing.T) {
	imagestoretest.Run(t, imagestoretest.Harness{
		Open: func(t *testing.T) imagestore.Store { return memstore.New() },
	})
}
