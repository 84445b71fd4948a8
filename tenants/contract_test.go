package tenants

import "github.com/ctsync/ctsync/sync/worker"

// The Graph adapter implements the ports sync/worker declares.
var (
	_ worker.Source = (*Source)(nil)
	_ worker.Target = (*Target)(nil)
)
