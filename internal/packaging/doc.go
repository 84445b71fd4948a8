// Package packaging holds no code: its tests check the files that ship
// ctsync (the Dockerfile, deploy/systemd, deploy/kubernetes) against the
// code and the documentation they depend on, since CI here has no Docker
// daemon and no Kubernetes cluster to try them in. It lives under internal/
// so that `make test` runs it with the other internal packages.
package packaging
