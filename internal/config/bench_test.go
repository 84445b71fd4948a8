package config

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkLoadDeep parses documents of growing size made of nothing but
// nested brackets, the input that used to print 20,000 lines and take
// 1.9 GB at 40 KB. It reports the time and the bytes allocated per run for
// each size: both stay flat (refused in the pre-pass after MaxDepth
// levels, without reading further).
func BenchmarkLoadDeep(b *testing.B) {
	for _, n := range []int{10 << 10, 40 << 10, 400 << 10, MaxFileSize - 8} {
		src := []byte("a = " + strings.Repeat("[", n/2) + strings.Repeat("]", n/2))
		b.Run(fmt.Sprintf("bytes=%d", len(src)), func(b *testing.B) { benchParse(b, src, false) })
	}
}

// BenchmarkLoadWide parses valid-looking documents of growing width (many
// tenants, each a few keys, under the 1 MiB bound): time and memory grow
// linearly with the size, never with its square.
func BenchmarkLoadWide(b *testing.B) {
	for _, tenants := range []int{100, 1000, 5000} {
		var sb strings.Builder
		sb.WriteString("[store]\nurl = \"redis://127.0.0.1:6379/0\"\n")
		for i := range tenants {
			fmt.Fprintf(&sb, "[[tenant]]\nname = \"t%d\"\ntenant_id = \"11111111-1111-4111-8111-%012d\"\ndomain = \"t%d.onmicrosoft.com\"\ncredential = \"azure_cli\"\n", i, i, i)
		}
		src := []byte(sb.String())
		b.Run(fmt.Sprintf("bytes=%d", len(src)), func(b *testing.B) { benchParse(b, src, true) })
	}
}

// benchParse runs Parse (and Validate when valid is set) over src and
// reports ns and bytes per input byte besides the totals, the figures
// that show linearity at a glance.
func benchParse(b *testing.B, src []byte, valid bool) {
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for b.Loop() {
		cfg, err := Parse("bench.toml", src)
		if valid {
			if err != nil {
				b.Fatal(err)
			}
			cfg.SetDefaults()
			_ = cfg.Validate() // no pairs: an error, after validating every tenant
		} else if err == nil {
			b.Fatal("deep document accepted")
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	alloc := float64(after.TotalAlloc-before.TotalAlloc) / float64(b.N)
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N)/float64(len(src)), "ns/byte")
	b.ReportMetric(alloc/float64(len(src)), "allocB/byte")
	b.ReportMetric(alloc/(1<<20), "MiB/op")
}
