package memstore

import (
	"testing"

	"github.com/eir-sidecar/eir/eir/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return New() })
}
