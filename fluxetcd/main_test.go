package fluxetcd_test

import (
	"fmt"
	"os"
	"testing"
)

// shared is a single-member cluster that the fast tests share, each under
// a key prefix of its own.
var shared *testCluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fluxetcd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	shared, err = newCluster(dir, 1, nil)
	if shared != nil {
		defer shared.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "start shared etcd:", err)
		return 1
	}
	return m.Run()
}
