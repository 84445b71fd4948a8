package policy

import (
	"errors"
	"strings"
	"testing"
)

// user is a test source user: a property map, as directory.User holds.
type user map[string]any

func (u user) Attr(name string) (any, bool) {
	v, ok := u[name]
	return v, ok
}

// member is an ordinary internal member with a few properties.
func member(extra map[string]any) user {
	u := user{
		"id": "u1", "userPrincipalName": "ada@contoso.com", "mail": "ada@contoso.com",
		"userType": "Member", "creationType": nil, "accountEnabled": true,
		"displayName": "Ada Lovelace", "givenName": "Ada", "surname": "Lovelace",
		"department": "Engineering", "country": "Germany",
	}
	for k, v := range extra {
		u[k] = v
	}
	return u
}

func ptr[T any](v T) *T { return &v }

// mustCompile compiles or fails the test.
func mustCompile(t testing.TB, spec PairSpec) *Pair {
	t.Helper()
	p, err := Compile("p", spec)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

// compileErrs compiles and returns the problems, failing when there are none.
func compileErrs(t *testing.T, spec PairSpec) Errors {
	t.Helper()
	_, err := Compile("p", spec)
	if err == nil {
		t.Fatal("Compile: want errors, got none")
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Compile error %T is not Errors: %v", err, err)
	}
	return errs
}

// findErr returns the problem at key, failing when there is none.
func findErr(t *testing.T, errs Errors, key, msgPart string) *Error {
	t.Helper()
	for _, e := range errs {
		if e.Key == key && strings.Contains(e.Msg, msgPart) {
			return e
		}
	}
	t.Fatalf("no error at %q containing %q; got:\n%v", key, msgPart, errs)
	return nil
}

// allMembers is the smallest valid spec.
func allMembers() PairSpec { return PairSpec{Scope: ScopeSpec{All: true}} }
