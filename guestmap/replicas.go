package guestmap

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Replica is one ctsync process that runs pairs and announces itself in the
// store, so that replicas can share the pairs (see sync/shard) and `ctsync
// status` can show who runs what.
type Replica struct {
	// ID names the replica: its store's Options.Holder ("HOST:PID" by
	// default), the same name its leases carry.
	ID      string    `json:"id"`
	Host    string    `json:"host,omitempty"`
	PID     int       `json:"pid,omitempty"`
	Version string    `json:"version,omitempty"`
	Started time.Time `json:"started,omitzero"`
	// Configured are the pairs the replica's configuration holds: a pair
	// is only ever assigned to replicas configured for it.
	Configured []string `json:"configured,omitempty"`
	// Pairs are the pairs the replica runs: its share, as it last said.
	Pairs []string `json:"pairs,omitempty"`

	// Seen is when the replica last announced itself (its own clock);
	// Until is when the store forgets it unless it announces itself again
	// (the reader's clock and the store's remaining TTL). Filled by the
	// store; ignored by Heartbeat.
	Seen  time.Time `json:"seen,omitzero"`
	Until time.Time `json:"until,omitzero"`
}

// Epoch is the store's marker: written once, when ctsync first finds the
// store without one.
type Epoch struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	// New is set when this call created the marker.
	New bool `json:"-"`
}

func checkReplica(id string, ttl time.Duration) error {
	if id == "" || len(id) > 200 {
		return errorf("replica ID %q must be 1-200 bytes", id)
	}
	if ttl < time.Millisecond {
		return errorf("replica heartbeat TTL %v is below 1ms", ttl)
	}
	return nil
}

// The embedded store keeps replicas and its epoch in the meta bucket: only
// one process can open the file, so it only ever lists that process, but
// status and the sharing code work the same on both stores.
var (
	bucketReplicas = []byte("replicas")
	keyEpoch       = []byte("epoch")
)

// boltReplica is a replica as the embedded store keeps it.
type boltReplica struct {
	Replica
	Expires time.Time `json:"expires"`
}

func (s *boltStore) Heartbeat(ctx context.Context, r Replica, ttl time.Duration) error {
	if err := checkReplica(r.ID, ttl); err != nil {
		return err
	}
	r.Seen, r.Until = s.now(), time.Time{}
	v, err := json.Marshal(boltReplica{Replica: r, Expires: s.now().Add(ttl)})
	if err != nil {
		return fmt.Errorf("guestmap: encode replica %s: %w", r.ID, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketMeta).CreateBucketIfNotExists(bucketReplicas)
		if err != nil {
			return err
		}
		return b.Put([]byte(r.ID), v)
	})
	return s.wrap("heartbeat of replica "+r.ID, err)
}

func (s *boltStore) Leave(ctx context.Context, id string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta).Bucket(bucketReplicas); b != nil {
			return b.Delete([]byte(id))
		}
		return nil
	})
	return s.wrap("remove replica "+id, err)
}

func (s *boltStore) Replicas(ctx context.Context) ([]Replica, error) {
	now := s.now()
	var out []Replica
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta).Bucket(bucketReplicas)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r boltReplica
			if json.Unmarshal(v, &r) != nil || !now.Before(r.Expires) {
				return nil // lapsed (or unreadable: it will be overwritten)
			}
			r.Until = r.Expires
			out = append(out, r.Replica)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, s.wrap("list replicas", err)
}

func (s *boltStore) Epoch(ctx context.Context) (Epoch, error) {
	var e Epoch
	err := s.db.View(func(tx *bolt.Tx) error {
		return decodeEpoch(tx.Bucket(bucketMeta).Get(keyEpoch), &e)
	})
	if err != nil || e.ID != "" {
		return e, s.wrap("read epoch", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if err := decodeEpoch(m.Get(keyEpoch), &e); err != nil || e.ID != "" {
			return err
		}
		e = Epoch{ID: newToken()[:16], Created: s.now().UTC(), New: true}
		v, _ := json.Marshal(e)
		return m.Put(keyEpoch, v)
	})
	return e, s.wrap("write epoch", err)
}

func decodeEpoch(v []byte, e *Epoch) error {
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(v, e); err != nil {
		return fmt.Errorf("epoch marker: %w: %w", ErrCorrupt, err)
	}
	return nil
}
