package graphsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

type batchItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

const maxBatch = 20

// batch serves POST /$batch: at most 20 items, each routed, authorised,
// throttled and counted on its own; dependsOn orders them and dependants
// of a failed item get 424.
func (s *Server) batch(c *call) response {
	var env struct {
		Requests []batchItem `json:"requests"`
	}
	d := json.NewDecoder(bytes.NewReader(c.body))
	if err := d.Decode(&env); err != nil {
		return c.fail(badRequest("Invalid batch payload format."))
	}
	if len(env.Requests) == 0 {
		return c.fail(badRequest("Invalid batch payload format: no requests."))
	}
	if len(env.Requests) > maxBatch {
		return c.fail(badRequest("The number of requests in the batch exceeds 20."))
	}
	index := map[string]int{}
	for i, it := range env.Requests {
		if it.ID == "" {
			return c.fail(badRequest("Every batch request needs an id."))
		}
		if _, dup := index[it.ID]; dup {
			return c.fail(badRequest("Batch request ids must be unique: '" + it.ID + "'."))
		}
		index[it.ID] = i
		switch strings.ToUpper(it.Method) {
		case "GET", "POST", "PATCH", "PUT", "DELETE":
		default:
			return c.fail(badRequest("Invalid method '" + it.Method + "' in batch request '" + it.ID + "'."))
		}
		if it.URL == "" || strings.Contains(it.URL, "://") {
			return c.fail(badRequest("Batch request '" + it.ID + "' needs a relative url."))
		}
	}
	for _, it := range env.Requests {
		for _, dep := range it.DependsOn {
			if _, ok := index[dep]; !ok || dep == it.ID {
				return c.fail(badRequest("Batch request '" + it.ID + "' depends on an unknown request '" + dep + "'."))
			}
		}
	}
	results := make([]*obj, len(env.Requests))
	status := make([]int, len(env.Requests))
	done := 0
	for done < len(env.Requests) {
		progressed := false
		for i, it := range env.Requests {
			if results[i] != nil {
				continue
			}
			ready, failed := true, false
			for _, dep := range it.DependsOn {
				j := index[dep]
				if results[j] == nil {
					ready = false
				} else if status[j] >= 400 {
					failed = true
				}
			}
			if !ready {
				continue
			}
			var r response
			if failed {
				r = c.fail(errf(http.StatusFailedDependency, codeFailedDep, "Request failed because a request it depends on failed."))
			} else {
				r = s.batchOne(c, it)
			}
			o := batchResult(it.ID, r)
			results[i], status[i] = &o, r.status
			done++
			progressed = true
		}
		if !progressed {
			return c.fail(badRequest("The dependsOn graph of the batch has a cycle."))
		}
	}
	out := make([]any, len(results))
	for i, r := range results {
		out[i] = *r
	}
	return jsonResponse(http.StatusOK, obj{{"responses", out}})
}

func (s *Server) batchOne(env *call, it batchItem) response {
	u := it.URL
	if !strings.HasPrefix(u, "/") {
		u = "/" + u
	}
	u = strings.TrimPrefix(u, "/v1.0")
	pathPart, rawQuery, _ := strings.Cut(u, "?")
	segs, ok := splitPath(pathPart)
	if !ok {
		return env.fail(badRequest("Invalid url in batch request."))
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return env.fail(badRequest("Invalid query in batch request."))
	}
	h := http.Header{}
	for k, v := range it.Headers {
		h.Set(k, v)
	}
	var body []byte
	if len(it.Body) > 0 && string(it.Body) != "null" {
		body = it.Body
		var s string
		if json.Unmarshal(it.Body, &s) == nil {
			body = []byte(s)
		}
	}
	c := &call{s: s, t: env.t, app: env.app, roles: env.roles, method: strings.ToUpper(it.Method), segs: segs,
		query: q, header: h, body: body, rid: s.newRequestID(), now: s.now(), inBatch: true}
	if len(segs) == 1 && segs[0] == "$batch" {
		return c.fail(badRequest("Nested batches are not supported."))
	}
	r, _ := s.execute(c)
	return r
}

func batchResult(id string, r response) obj {
	o := obj{{"id", id}, {"status", r.status}}
	hdr := obj{}
	for k, v := range r.header {
		if len(v) > 0 {
			hdr = append(hdr, kv{k, v[0]})
		}
	}
	o = append(o, kv{"headers", hdr})
	if len(r.body) > 0 {
		if json.Valid(r.body) && strings.Contains(r.header.Get("Content-Type"), "json") {
			o = append(o, kv{"body", json.RawMessage(r.body)})
		} else {
			o = append(o, kv{"body", string(r.body)})
		}
	}
	return o
}
