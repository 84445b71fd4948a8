// Package guestmap is the memory of ctsync: which guest in which target
// tenant stands for which source user, where each pair's delta read stopped,
// who holds which pair, what is staged for an admin's decision, and what was
// done (the provisioning log).
//
// One contract, [Store], has two implementations behind [Open]:
//
//   - Redis (redis://, rediss://; Sentinel and Cluster through go-redis's
//     universal client) for production, where several ctsync replicas share
//     the state and a pair lease decides who works on a pair;
//   - an embedded bbolt file (bolt:///path/file.db or a plain path) for a
//     single process: the demo, a laptop, a cron job. A second process on
//     the same file is refused with [ErrStoreLocked].
//
// The map is an index, not the truth: every guest carries a stamp
// (see directory.Stamp) and [Rebuild] recreates a pair's map from the stamps
// found in the target tenant.
//
// # Pairs, leases and fencing
//
// A pair is named by the caller (e.g. "contoso->fabrikam"); names may not
// contain '{' or '}' because the name is the Redis Cluster hash tag.
// [Store.Acquire] gives one holder at a time a [Lease] with a random 128-bit
// token and a TTL; [Store.LeaseHolder] tells who holds it, by the
// [Options.Holder] name of the store that took it. Every mutating write of
// a pair's entries, delta link, status and staged list goes through
// [Store.Apply] with that lease and is
// refused with [ErrFenced] (which also matches [ErrLeaseLost]) when the
// lease key no longer holds that token: inside Redis this check and the
// writes run in one Lua script, so a paused replica whose lease expired can
// never overwrite the work of the replica that took over. Admin operations
// that an operator runs beside a live worker (approve or reject a staged
// deletion, clear a quarantine, append to the log) are not fenced.
//
// # Redis key layout
//
// With the default prefix "ctsync" and a pair P, every per-pair key carries
// the hash tag {P}, so all of a pair's keys live in one Cluster slot and one
// Lua script may touch them all:
//
//	ctsync:pairs              SET     names of every pair ever leased
//	ctsync:{P}:map            HASH    source object ID -> entry (binary, see below)
//	ctsync:{P}:delta          STRING  the committed delta link
//	ctsync:{P}:fast           STRING  the fast lane's committed delta link (Batch.FastLink)
//	ctsync:{P}:lease          STRING  lease token, with PX TTL
//	ctsync:{P}:holder         STRING  who holds the lease (Options.Holder), set and cleared with it
//	ctsync:{P}:fence          STRING  counter, INCR on every new lease (Lease.Fence)
//	ctsync:{P}:lock:<srcID>   STRING  per-user lock token (invite step), with PX TTL
//	ctsync:{P}:status         STRING  JSON Status written by the worker
//	ctsync:{P}:quar           STRING  JSON Quarantine (absent when not quarantined)
//	ctsync:{P}:staged         HASH    source object ID -> JSON Staged
//	ctsync:{P}:decide         HASH    source object ID -> JSON admin decision
//	ctsync:{P}:log            STREAM  field "r" = JSON Record, XADD MAXLEN ~ LogCap
//
// Entries are one field each in one hash per pair, not one key per user,
// which keeps 100,000 users well under 300 bytes each. An entry value is a
// compact binary record (version byte 1): state, attempts, unix-second
// timestamps as varints, the 64-bit attribute hash, then the guest ID,
// stamp and manager ID (each 16 bytes when they are canonical GUIDs, the
// stamp reduced to its source tenant GUID when it has the standard form),
// guest UPN or mail, and the last error. See codec.go.
//
// The embedded store keeps the same records in bbolt buckets (one bucket
// per pair with map, staged, decide and log sub-buckets); its leases and
// locks live in the process's memory, which is enough because bbolt's file
// lock already makes that process the only one using the file.
//
// # Failures
//
// A lost connection, a Redis restart, a loading or read-only replica fail
// the current operation with an error matching [ErrUnavailable]; the
// worker stops the pair's cycle and retries later, and the client
// reconnects by itself when Redis is back. A multi-chunk [Store.Apply]
// writes its delta link, status and unlocks only after every entry chunk
// succeeded, so a failure never leaves a committed delta link ahead of its
// entries.
package guestmap
