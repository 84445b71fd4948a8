package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ctsync/ctsync/sync/plan"
	"github.com/ctsync/ctsync/sync/worker"
)

// maxPlanFile bounds the plan file `once --plan` reads: a 100,000-user
// first sync plans about 100,000 changes of a few hundred bytes.
const maxPlanFile = 256 << 20

// writePlanFile writes doc to path through a temporary file in the same
// directory, so a reader never sees half a plan. Mode 0600: a plan holds
// the users' attributes.
func writePlanFile(path string, doc *plan.Document) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ctsync-plan-*")
	if err != nil {
		return fmt.Errorf("write plan %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := doc.Write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write plan %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write plan %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write plan %s: %w", path, err)
	}
	return nil
}

// planFile is what `once --plan` reads of a plan document: each pair's
// digest (the rest is for people and scripts).
type planFile struct {
	Version int `json:"version"`
	Pairs   []struct {
		Pair   string `json:"pair"`
		Digest string `json:"digest"`
		Error  string `json:"error"`
	} `json:"pairs"`
}

// reviewedPairs reads the plan at path and returns a cycler per pair in it
// that applies exactly that pair's plan. Every pair of the plan must be
// one of pairs (the configuration's enabled pairs); with only (--pair),
// only that pair of the plan runs. Pairs not in the plan do not run.
func reviewedPairs(path string, pairs []*worker.Pair, only string) ([]worker.Cycler, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--plan: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPlanFile+1))
	if err != nil {
		return nil, fmt.Errorf("--plan %s: %w", path, err)
	}
	if len(b) > maxPlanFile {
		return nil, fmt.Errorf("--plan %s: larger than %d MB: not a plan ctsync wrote", path, maxPlanFile>>20)
	}
	var pf planFile
	if err := json.Unmarshal(b, &pf); err != nil {
		return nil, fmt.Errorf("--plan %s: not a plan document: %w", path, err)
	}
	if pf.Version != plan.DocumentVersion {
		return nil, fmt.Errorf("--plan %s: plan document version %d, this ctsync reads version %d: plan again with this ctsync", path, pf.Version, plan.DocumentVersion)
	}
	byName := make(map[string]*worker.Pair, len(pairs))
	for _, p := range pairs {
		byName[p.PairName] = p
	}
	var out []worker.Cycler
	var errs []error
	for _, pp := range pf.Pairs {
		p, ok := byName[pp.Pair]
		switch {
		case only != "" && pp.Pair != only:
			continue // --pair: the plan's other pairs are not asked for
		case !ok:
			errs = append(errs, fmt.Errorf("pair %q is in the plan but not an enabled pair of the configuration", pp.Pair))
		case pp.Error != "" || pp.Digest == "":
			errs = append(errs, fmt.Errorf("pair %s could not be planned (%s): there is no plan of it to apply", pp.Pair, firstNonEmptyString(pp.Error, "no digest")))
		default:
			out = append(out, worker.Reviewed{Pair: p, Digest: pp.Digest})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("--plan %s: %w", path, err)
	}
	if len(out) == 0 && only != "" {
		return nil, fmt.Errorf("--plan %s: pair %s is not in the plan", path, only)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--plan %s: no pair to apply", path)
	}
	return out, nil
}
