//go:build linux

package guestmap

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReleaseMappedKeepsDataAndShrinksRSS fills the log, reads it all
// (every page of the file mapped), drops the mapping's pages, and checks
// that the mapping's resident size fell and that every record still reads.
func TestReleaseMappedKeepsDataAndShrinksRSS(t *testing.T) {
	ctx := context.Background()
	s := openBoltT(t, Options{LogCap: 1_000_000})
	const n = 20_000
	for i := 0; i < n; i += 1000 {
		recs := make([]Record, 0, 1000)
		for j := i; j < i+1000; j++ {
			recs = append(recs, Record{Time: time.Unix(int64(j), 0), Pair: "a->b", SourceID: fmt.Sprintf("src-%06d", j),
				Action: "create", Result: "ok", Changes: []Change{{Prop: "displayName", New: strings.Repeat("x", 200)}}})
		}
		if err := s.AppendLog(ctx, recs...); err != nil {
			t.Fatal(err)
		}
	}
	readAll := func() {
		t.Helper()
		got, err := s.Logs(ctx, LogQuery{Pair: "a->b", Limit: n})
		if err != nil || len(got) != n {
			t.Fatalf("Logs: %d records, %v; want %d", len(got), err, n)
		}
	}
	readAll()
	before := mappedRSSKB(t, s.path)
	if before < 2048 {
		t.Fatalf("the mapping holds %d KB after reading a %d-record log: the test reads too little to measure", before, n)
	}
	s.released.Store(0)
	s.releaseMapped()
	after := mappedRSSKB(t, s.path)
	if after > before/4 {
		t.Errorf("mapped RSS %d KB -> %d KB: want the pages dropped", before, after)
	}
	readAll() // the data is still there, mapped again on demand
	t.Logf("mapped RSS %d KB -> %d KB", before, after)
}

// mappedRSSKB sums the Rss of the process's mappings of path.
func mappedRSSKB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	total, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) >= 6 && fields[len(fields)-1] == path
			continue
		}
		if in && len(fields) == 3 && fields[0] == "Rss:" {
			kb, _ := strconv.Atoi(fields[1])
			total += kb
		}
	}
	return total
}
