package config

import (
	"errors"

	"github.com/ctsync/ctsync/policy"
)

func init() { checkPolicy = compilePolicy }

// compilePolicy compiles a pair's policy and turns each policy.Error into
// a problem at its key, so `ctsync validate` points at the line of the
// offending mapping, clause or action.
func compilePolicy(p *Pair) []KeyError {
	_, err := policy.Compile(p.Name, p.PairSpec)
	if err == nil {
		return nil
	}
	var es policy.Errors
	if !errors.As(err, &es) {
		var one *policy.Error
		if errors.As(err, &one) {
			es = policy.Errors{one}
		} else {
			return []KeyError{{Key: "", Msg: err.Error()}}
		}
	}
	out := make([]KeyError, 0, len(es))
	for _, e := range es {
		out = append(out, KeyError{Key: e.Key, Msg: e.Detail()})
	}
	return out
}
