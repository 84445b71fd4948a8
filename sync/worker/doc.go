// Package worker runs ctsync's pairs: one pair's cycle (lease, read the
// source, plan, apply under bounded concurrency per target tenant, record)
// and the Runner that schedules every pair concurrently, with a sync-now
// trigger, per-pair timeouts, panic recovery and graceful shutdown.
//
// The worker declares the interfaces it needs of the Graph adapter (Source,
// Target) and works on package directory's small types; package tenants
// implements them against Microsoft Graph, and the store is package
// guestmap.
package worker
