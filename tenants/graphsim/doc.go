// Package graphsim is ctsync's own simulator of Microsoft Entra ID and the
// parts of Microsoft Graph v1.0 that ctsync uses, served over HTTPS.
//
// It owns everything a real tenant would: an identity endpoint
// (OpenID configuration and the client-credentials token endpoint, with
// client secrets and certificate assertions), a directory per tenant (users,
// guests, groups, deleted items, app registrations with permission sets) and
// the Graph endpoints over it (users with paging, $select, $filter and
// $count, delta query, invitations, deleted items, group members, $batch).
// Realism switches add Graph's documented throttling (per app and tenant,
// and per app across all tenants), latency, faults, token-endpoint
// failures and eventual consistency (replication lag, replica misses after
// an earlier success, a search index that trails writes), so the same code
// is exact in tests, real in benchmarks and hostile when asked
// (ProfileHostile). docs/graph-behaviour.md lists each behaviour with its
// Microsoft documentation.
//
// The real msgraph-sdk-go and azidentity clients talk to it unchanged: point
// azidentity's authority host at AuthorityURL, trust CAFile, and set the
// request adapter's base URL to GraphURL. The production code is stdlib only.
//
// Windows: throttling uses sliding-window counters (the previous fixed
// window's count weighted by how much of it still overlaps the sliding
// window, plus the current window's count). Usage is charged even when a
// request is throttled, as Graph does, so retrying before Retry-After makes
// things worse.
package graphsim
