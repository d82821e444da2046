// Package vmtests holds the tests that run inside director's throw-away VM
// (Debian's 6.1 kernel under QEMU, see package test/vm): the ones that
// need what the build machines' kernel lacks, kernel IPVS above all, or an
// older kernel (no TCX).
//
// `make test-vm` (which `make test` runs) compiles this package with
// `CGO_ENABLED=0 go test -c`, boots the VM and runs the binary inside as
// root with -test.v and DIRECTOR_VM=1 DIRECTOR_PRIVILEGED_TESTS=1, in the
// host's root directory mounted read-only (every Debian binary of the host
// and the built bin/director are there; /tmp, /run and /sys/fs/bpf are the
// guest's own and writable), with the package directory as working
// directory. Outside the VM (DIRECTOR_VM unset) TestMain runs nothing, so
// `go test ./...` on the host passes over this package.
//
// Conventions for a test here: it is an ordinary Go test; it needs no
// skip of its own (TestMain does that); it builds what it needs in network
// namespaces of its own (test/lab or netns.New), as on the host; it must
// not depend on the network (the VM has no network device); and the VM
// emulates its CPUs in software, so deadlines need slack and loops few
// iterations. Run one test with
// `make test-vm VMRUN='-run TestName'`.
package vmtests
