package worker

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/policy"
)

// spool keeps the users a cycle read on disk until it plans them, chunk by
// chunk, so that a pair's memory does not grow with its tenant: a 100,000
// user first sync holds a small index per user (its ID, and its mail while
// in scope) instead of every user object, its plan and its bookkeeping at
// once.
//
// The whole read lands in the spool before anything is planned, because
// two decisions need all of it: duplicate mails (two users sharing one are
// both held back, and they may be pages apart) and which user record wins
// when a delta round replays a user (the last one). Reading is cheap next
// to writing (999 users a request), so a cycle that stops early reads the
// source again rather than keeping a delta round's position for hours.
//
// The file holds directory data (names, mails): it is created private
// (0600) in the system's temporary directory and unlinked at once where the
// system allows it, so a crash leaves no copy behind.
type spool struct {
	dir string // "" = os.TempDir()
	// path is the file to remove on close: "" once unlinked.
	path string
	f    *os.File
	w    *bufio.Writer
	enc  *gob.Encoder

	// ids and mails are by record: the user's ID, and its lower-cased mail
	// when it counts for duplicates (in scope, not removed), else "".
	ids   []string
	mails []string
	// last is the last record of each ID: a delta round can replay a user,
	// and the last record is the current one.
	last map[string]int32
}

func init() {
	// Attribute values are strings, booleans, int64, []string and, for
	// multi-valued extension data, []any: gob knows the others already.
	gob.Register([]any{})
}

func newSpool(dir string) *spool { return &spool{dir: dir, last: map[string]int32{}} }

// spoolRecord is the on-disk form of a user.
type spoolRecord struct {
	ID      string
	Removed directory.Removal
	Attrs   map[string]any
}

// add appends a user; dupMail is its mail when it counts for duplicate
// mails (see mailKey), else "".
func (s *spool) add(u directory.User, dupMail string) error {
	if s.f == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	if err := s.enc.Encode(spoolRecord(u)); err != nil {
		return fmt.Errorf("spool user %s: %w", u.ID, err)
	}
	s.last[u.ID] = int32(len(s.ids))
	s.ids = append(s.ids, u.ID)
	s.mails = append(s.mails, dupMail)
	return nil
}

func (s *spool) open() error {
	f, err := os.CreateTemp(s.dir, "ctsync-read-*")
	if err != nil {
		return fmt.Errorf("spool the source read: %w", err)
	}
	// Unlinked while open: the data goes when the file is closed, even
	// by a crash. Where the system refuses (Windows), close removes it.
	if os.Remove(f.Name()) != nil {
		s.path = f.Name()
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 64<<10)
	s.enc = gob.NewEncoder(s.w)
	return nil
}

// seen reports whether the read returned the user.
func (s *spool) seen(id string) bool {
	_, ok := s.last[id]
	return ok
}

// len is the number of distinct users.
func (s *spool) len() int { return len(s.last) }

// duplicates returns the users sharing a mail with another user, with the
// reason the plan gives, over the current record of every user.
func (s *spool) duplicates() map[string]string {
	byMail := map[string][]string{}
	for i, m := range s.mails {
		if m != "" && s.last[s.ids[i]] == int32(i) {
			byMail[m] = append(byMail[m], s.ids[i])
		}
	}
	out := map[string]string{}
	for m, ids := range byMail {
		if len(ids) < 2 {
			continue
		}
		reason := "duplicate mail: " + policy.DuplicateReason(m, ids)
		for _, id := range ids {
			out[id] = reason
		}
	}
	return out
}

// chunks replays the current record of every user, in the order read, n
// at a time. fn may keep the slice it is given.
func (s *spool) chunks(n int, fn func([]directory.User) error) error {
	if s.f == nil {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("spool the source read: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read back the spooled source read: %w", err)
	}
	dec := gob.NewDecoder(bufio.NewReaderSize(s.f, 64<<10))
	chunk := make([]directory.User, 0, n)
	for i := range s.ids {
		var r spoolRecord
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("read back spooled user %d of %d: %w", i+1, len(s.ids), err)
		}
		if s.last[r.ID] != int32(i) {
			continue // replayed later in the read
		}
		chunk = append(chunk, directory.User(r))
		if len(chunk) == n {
			if err := fn(chunk); err != nil {
				return err
			}
			chunk = make([]directory.User, 0, n)
		}
	}
	if len(chunk) > 0 {
		return fn(chunk)
	}
	return nil
}

// close drops the spool and its file.
func (s *spool) close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	if s.path != "" {
		err = errors.Join(err, os.Remove(s.path))
	}
	s.f = nil
	return err
}

// mailKey is the key under which a user counts for duplicate mails: its
// mail, compared without case, when it is in scope and not removed.
func mailKey(u directory.User, inScope func(directory.User) bool) string {
	if u.Removed != directory.NotRemoved {
		return ""
	}
	m := policy.MailKey(u.Str(directory.PropMail))
	if m == "" || !inScope(u) {
		return ""
	}
	return m
}
