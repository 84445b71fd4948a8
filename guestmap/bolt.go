package guestmap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// boltStore is the embedded Store: one process, one file.
//
// Layout: bucket "pairs" holds one bucket per pair, which holds the
// buckets "map" (source ID -> entry, same codec as Redis), "staged",
// "decide", "log" (8-byte time + 8-byte sequence -> JSON record) and
// "groups" (source group ID -> group entry, same codec as Redis) and the
// keys "delta", "fast" (the fast lane's delta link), "glink" (the groups'
// delta link), "status", "quar" and "logn" (record count). Bucket
// "meta" holds "fence", the last lease fence number.
type boltStore struct {
	db   *bolt.DB
	path string
	opts Options

	// mu guards the in-memory leases and the fence counter, and only
	// them: it is never held across a bolt transaction, so extending,
	// releasing or taking a lease never waits for a write or its fsync.
	// A fenced write pins the lease it checked instead (see bolt_lease.go).
	mu     sync.Mutex
	leases map[leaseKey]*memLease
	fence  uint64

	// group batches concurrent writes into shared transactions, and the
	// counters count what reaches the disk (bolt_commit.go).
	group   committer
	writes  atomic.Uint64 // calls of write
	commits atomic.Uint64
	fsyncs  atomic.Uint64
	size    atomic.Int64 // file size after the last commit, to count grow fsyncs
	// released is when the mapped pages were last dropped (UnixNano,
	// bolt_mapped.go).
	released atomic.Int64

	// inTx, when set (tests only, before any write), runs inside every
	// group transaction after its writes and before its commit.
	inTx func()
}

type leaseKey struct{ pair, sourceID string }

type memLease struct {
	token   string
	expires time.Time
	holder  string // Options.Holder, for LeaseHolder
	// pins counts fenced writes in flight that checked this token: while
	// it is above zero no other token may take the key, expired or not.
	pins int
}

var _ Store = (*boltStore)(nil)

var (
	bucketPairs  = []byte("pairs")
	bucketMeta   = []byte("meta")
	bucketMap    = []byte("map")
	bucketStaged = []byte("staged")
	bucketDecide = []byte("decide")
	bucketLog    = []byte("log")
	bucketGroups = []byte("groups")
	keyDelta     = []byte("delta")
	keyFast      = []byte("fast")
	keyGroupLink = []byte("glink")
	keyStatus    = []byte("status")
	keyQuar      = []byte("quar")
	keyLogN      = []byte("logn")
	keyMapN      = []byte("mapn") // the map's entry count (applyEntries)
	keyFence     = []byte("fence")
)

// OpenBolt opens (creating if needed) the embedded store at path. A second
// process on the same file fails after opts.LockTimeout with
// ErrStoreLocked.
func OpenBolt(path string, opts Options) (Store, error) {
	return openBolt(path, opts.withDefaults())
}

func openBolt(path string, opts Options) (*boltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, NoSync: opts.NoSync, NoFreelistSync: true})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("guestmap: %s is in use by another ctsync process (file lock not obtained within %v): %w",
			path, opts.LockTimeout, ErrStoreLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("guestmap: open embedded store %s: %w", path, err)
	}
	s := &boltStore{db: db, path: path, opts: opts, leases: make(map[leaseKey]*memLease)}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketPairs); err != nil {
			return err
		}
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := m.Get(keyFence); len(v) == 8 {
			s.fence = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("guestmap: initialise embedded store %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil {
		s.size.Store(fi.Size())
	}
	return s, nil
}

func (s *boltStore) now() time.Time { return s.opts.Now() }

// Close closes the file, releasing its lock.
func (s *boltStore) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("guestmap: close %s: %w", s.path, err)
	}
	return nil
}

// wrap names the file in errors and maps a closed database to ErrClosed.
func (s *boltStore) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return fmt.Errorf("guestmap: %s: %w", op, ErrClosed)
	case errors.Is(err, ErrFenced), errors.Is(err, ErrInvalid), errors.Is(err, ErrCorrupt):
		return err
	default:
		return fmt.Errorf("guestmap: %s in %s: %w", op, s.path, err)
	}
}

// pairBucket returns a pair's bucket in a read transaction, or nil.
func pairBucket(tx *bolt.Tx, pair string) *bolt.Bucket {
	return tx.Bucket(bucketPairs).Bucket([]byte(pair))
}

// sub returns a sub-bucket of a pair in a read transaction, or nil.
func sub(tx *bolt.Tx, pair string, name []byte) *bolt.Bucket {
	if p := pairBucket(tx, pair); p != nil {
		return p.Bucket(name)
	}
	return nil
}

// pairBucketRW returns a pair's bucket with its sub-buckets, creating them
// (a pair written by a ctsync from before group sync gets its "groups"
// bucket on its next write).
func pairBucketRW(tx *bolt.Tx, pair string) (*bolt.Bucket, error) {
	p, err := tx.Bucket(bucketPairs).CreateBucketIfNotExists([]byte(pair))
	if err != nil {
		return nil, err
	}
	for _, n := range [][]byte{bucketMap, bucketStaged, bucketDecide, bucketLog, bucketGroups} {
		if _, err := p.CreateBucketIfNotExists(n); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Pairs lists the pair buckets.
func (s *boltStore) Pairs(ctx context.Context) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPairs).ForEachBucket(func(k []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	sort.Strings(out)
	return out, s.wrap("list pairs", err)
}

// DeltaLink reads the committed delta link.
func (s *boltStore) DeltaLink(ctx context.Context, pair string) (string, error) {
	return s.link(pair, keyDelta, "delta link")
}

// FastLink reads the committed delta link of the pair's fast lane.
func (s *boltStore) FastLink(ctx context.Context, pair string) (string, error) {
	return s.link(pair, keyFast, "fast lane link")
}

// GroupLink reads the committed delta link of the pair's groups read.
func (s *boltStore) GroupLink(ctx context.Context, pair string) (string, error) {
	return s.link(pair, keyGroupLink, "group link")
}

// link reads one of the pair's delta links ("" none).
func (s *boltStore) link(pair string, key []byte, what string) (string, error) {
	if err := checkPair(pair); err != nil {
		return "", err
	}
	var v string
	err := s.db.View(func(tx *bolt.Tx) error {
		if p := pairBucket(tx, pair); p != nil {
			v = string(p.Get(key))
		}
		return nil
	})
	return v, s.wrap("read "+what+" of "+pair, err)
}
