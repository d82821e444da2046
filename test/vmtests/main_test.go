// TestMain: the package's tests run only inside the VM.

package vmtests

import (
	"fmt"
	"os"
	"testing"
)

// InVM says whether the tests run inside the test VM.
func InVM() bool { return os.Getenv("DIRECTOR_VM") == "1" }

func TestMain(m *testing.M) {
	if !InVM() {
		fmt.Println("vmtests: not in the test VM (DIRECTOR_VM unset); make test-vm runs these tests")
		os.Exit(0)
	}
	os.Exit(m.Run())
}
