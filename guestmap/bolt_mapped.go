package guestmap

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// Mapped pages. bbolt reads the store file through a read-only shared
// memory map. Every page a transaction reads joins ctsync's resident set
// and stays there: appending to the provisioning log reads the last leaf
// that the previous commit wrote, so over a first sync every page of the
// log is read once, and at 100,000 users the mapped file was 210 MB of a
// 335 MB RSS whose own (anonymous) part was 127 MB. Those pages are clean
// copies of the file, and the kernel may reclaim them, but they count in
// RSS, which is what an admin's container limit and monitoring see.
//
// So after commits and between a scan's pages, at most once per
// releaseEvery, the store tells the
// kernel it does not need the mapping's pages (madvise MADV_DONTNEED, on
// Linux). For a shared file mapping this only unmaps them: the data stays
// in the file and in the page cache, and the next read of a page maps it
// again with a minor fault (no disk read while the page cache holds it).
// Reads keep working throughout; what changes is that RSS holds the pages
// read in the last interval instead of every page ever read.
//
// bbolt does not expose its mapping as a slice; DB.Info gives its start.
// The advice is given inside a read transaction: bbolt remaps (on growth)
// only under its mmap lock, which a read transaction holds shared, so the
// address range is the live mapping for the whole call. tx.Size is the
// database's size as this transaction sees it, within the mapping.
//
// Every 50 ms: a first sync's writes (random source IDs, so leaves all
// over the map, copied on write) touched 30 to 60 MB of the mapping per
// quarter second at 100,000 users; dropping the mapping costs a walk of
// its page tables (well under a millisecond for a few hundred MB), and a
// page read again costs a minor fault.
const releaseEvery = 50 * time.Millisecond

// releaseMapped drops the mapped pages when releaseEvery has passed since
// the last time. It runs outside any transaction of its caller (a writer
// after its commit, a scan between pages); a concurrent caller skips.
func (s *boltStore) releaseMapped() {
	now := time.Now().UnixNano()
	last := s.released.Load()
	if now-last < int64(releaseEvery) || !s.released.CompareAndSwap(last, now) {
		return
	}
	s.dropMappedNow()
}

// dropMappedNow drops the mapped pages at once: a scan calls it after each
// page, because it reads a page of 1,000 entries in well under
// releaseEvery (a whole 100,000-entry map in about 100 ms), so a
// rate-limited drop let it map the whole map first.
func (s *boltStore) dropMappedNow() {
	_ = s.db.View(func(tx *bolt.Tx) error {
		dropMapped(s.db.Info().Data, tx.Size())
		return nil
	})
}
