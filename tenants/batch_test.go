package tenants

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestBatchThrottledItems: a 200 $batch envelope holding a 429 item blocks
// the tenant for the item's Retry-After, and that item alone is retried
// as a single request afterwards.
func TestBatchThrottledItems(t *testing.T) {
	var batches, singles atomic.Int32
	c, clk := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/$batch") {
			batches.Add(1)
			var req struct{ Requests []batchRequest }
			_ = json.NewDecoder(r.Body).Decode(&req)
			var resp []map[string]any
			for _, it := range req.Requests {
				switch {
				case strings.Contains(it.URL, "/u1/"):
					resp = append(resp, map[string]any{"id": it.ID, "status": 200, "body": map[string]any{"id": "boss"}})
				case strings.Contains(it.URL, "/u2/"):
					resp = append(resp, map[string]any{"id": it.ID, "status": 404, "body": map[string]any{"error": map[string]any{"code": "Request_ResourceNotFound"}}})
				default:
					resp = append(resp, map[string]any{"id": it.ID, "status": 429, "headers": map[string]string{"Retry-After": "5"}})
				}
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"responses": resp})
			return
		}
		singles.Add(1)
		if !strings.HasSuffix(r.URL.Path, "/users/u3/manager") {
			w.WriteHeader(400)
			return
		}
		_, _ = fmt.Fprint(w, `{"@odata.type":"#microsoft.graph.user","id":"boss3"}`)
	}, nil)
	var blocks []PaceEvent
	c.Pacer().Observe(func(ev PaceEvent) {
		if ev.Blocked {
			blocks = append(blocks, ev)
		}
	})
	got, err := c.Source().Managers(context.Background(), []string{"u1", "u2", "u3"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "map[u1:boss u3:boss3]" || batches.Load() != 1 || singles.Load() != 1 {
		t.Fatalf("managers %v, %d batches, %d singles", got, batches.Load(), singles.Load())
	}
	if len(blocks) != 1 || blocks[0].Until.Sub(blocks[0].At) != 5*time.Second {
		t.Fatalf("blocks %+v", blocks)
	}
	var waited time.Duration
	for _, d := range clk.slept() {
		waited += d
	}
	if waited < 5*time.Second {
		t.Fatalf("retried the throttled item after %v", waited)
	}
}
