package policy

import (
	"fmt"
	"sort"
	"strings"
)

// Duplicate is a group of source users sharing one mail address. Unlike
// Entra, which silently links them to one guest, ctsync syncs none of them
// and reports them all until the conflict is resolved at the source.
type Duplicate struct {
	// Mail is the shared address, lower-cased.
	Mail string
	// Indexes are the positions of the users in the slice given to
	// DuplicateMails, ascending.
	Indexes []int
	// IDs are their object IDs, in the same order.
	IDs []string
	// Reason is the sentence for the plan and the log.
	Reason string
}

// DuplicateMails returns the groups of users that share a mail address
// (compared without case), sorted by address. Users without a mail are
// ignored. id gives a user's object ID (for directory.User:
// func(u directory.User) string { return u.ID }); pass the cycle's
// in-scope users.
func DuplicateMails[U Attributes](users []U, id func(U) string) []Duplicate {
	byMail := map[string][]int{}
	for i, u := range users {
		v, _ := u.Attr(propMail)
		m, _ := v.(string)
		m = MailKey(m)
		if m == "" {
			continue
		}
		byMail[m] = append(byMail[m], i)
	}
	var out []Duplicate
	for m, idx := range byMail {
		if len(idx) < 2 {
			continue
		}
		d := Duplicate{Mail: m, Indexes: idx, IDs: make([]string, len(idx))}
		for k, i := range idx {
			d.IDs[k] = id(users[i])
		}
		d.Reason = DuplicateReason(m, d.IDs)
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mail < out[j].Mail })
	return out
}

// MailKey is how mails compare for duplicates: without case and
// surrounding blanks ("" for no mail).
func MailKey(mail string) string { return strings.ToLower(strings.TrimSpace(mail)) }

// DuplicateReason is the sentence for the plan and the log about the users
// ids sharing mail (a MailKey), for callers that find duplicates on their
// own terms (across the chunks of a large read).
func DuplicateReason(mail string, ids []string) string {
	return fmt.Sprintf("%d source users share mail %s (%s): none of them is synced until the mail is unique", len(ids), quote(mail), strings.Join(ids, ", "))
}
