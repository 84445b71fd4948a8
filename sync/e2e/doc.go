// Package e2e holds ctsync's end-to-end tests: the real Graph SDK against
// the simulator over HTTPS, a real redis-server, and real ctsync processes,
// wired exactly as the CLI wires them (internal/app). It has no code of
// its own.
package e2e
