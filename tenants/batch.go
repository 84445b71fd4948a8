package tenants

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ctsync/ctsync/internal/directory"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// batchLimit is Graph's maximum number of requests in one $batch.
const batchLimit = 20

type batchRequest struct {
	ID     string `json:"id"`
	Method string `json:"method"`
	URL    string `json:"url"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// Managers returns the manager's object ID of each user in ids that has
// one (users without a manager are absent from the map). Delta cannot
// $expand the manager, so it comes from GET /users/{id}/manager, 20 at a
// time in a $batch. Sub-requests throttled inside a batch (a 200 envelope
// can hold 429s with their own Retry-After) block the tenant's pacer for
// their Retry-After and are then retried one by one.
func (s *Source) Managers(ctx context.Context, ids []string) (map[string]string, error) {
	return s.c.managers(ctx, ids)
}

func (c *Client) managers(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for start := 0; start < len(ids); start += batchLimit {
		chunk := ids[start:min(start+batchLimit, len(ids))]
		retry, err := c.managerBatch(ctx, chunk, out)
		if err != nil {
			return nil, err
		}
		for _, id := range retry {
			m, err := c.manager(ctx, id)
			if err != nil {
				return nil, err
			}
			if m != "" {
				out[id] = m
			}
		}
	}
	return out, nil
}

// managerBatch sends one $batch of manager reads, records the answers in
// out and returns the IDs whose sub-request was throttled or failed
// transiently.
func (c *Client) managerBatch(ctx context.Context, ids []string, out map[string]string) (retry []string, err error) {
	reqs := make([]batchRequest, len(ids))
	for i, id := range ids {
		reqs[i] = batchRequest{ID: strconv.Itoa(i), Method: http.MethodGet,
			URL: "/users/" + url.PathEscape(id) + "/manager?$select=id"}
	}
	body, err := json.Marshal(map[string]any{"requests": reqs})
	if err != nil {
		return nil, err
	}
	var raw []byte
	// Each sub-request is throttled on its own: the batch costs their sum.
	bctx := withCost(ctx, Cost{RU: len(ids), Requests: len(ids)})
	err = c.call(bctx, "POST /$batch", callOpts{}, func(ctx context.Context) error {
		info := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.POST, "{+baseurl}/$batch", map[string]string{})
		info.SetStreamContentAndContentType(body, "application/json")
		info.Headers.Add("Accept", "application/json")
		res, err := c.adapter.SendPrimitive(ctx, info, "[]byte", errorMapping)
		raw, _ = res.([]byte)
		return err
	})
	if err != nil {
		return nil, err
	}
	var resp struct {
		Responses []batchResponse `json:"responses"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, &GraphError{Tenant: c.cfg.Name, Op: "POST /$batch", Err: fmt.Errorf("decode batch response: %w", err)}
	}
	seen := make([]bool, len(ids))
	now := c.clock.Now()
	for _, r := range resp.Responses {
		i, err := strconv.Atoi(r.ID)
		if err != nil || i < 0 || i >= len(ids) || seen[i] {
			continue
		}
		seen[i] = true
		switch {
		case r.Status == http.StatusOK:
			var obj struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(r.Body, &obj); err == nil && obj.ID != "" {
				out[ids[i]] = obj.ID
			}
		case r.Status == http.StatusNotFound:
			// no manager
		case r.Status == http.StatusTooManyRequests || r.Status >= 500:
			if ra := parseRetryAfter(headerValue(r.Headers, "Retry-After"), now); ra > 0 && r.Status == http.StatusTooManyRequests {
				c.pacer.Block(now.Add(min(ra, c.cfg.Retry.MaxRetryAfter)))
			}
			retry = append(retry, ids[i])
		default:
			return nil, batchItemError(c.cfg.Name, r)
		}
	}
	for i, ok := range seen {
		if !ok { // Graph must answer every sub-request; retry any it did not
			retry = append(retry, ids[i])
		}
	}
	return retry, nil
}

// manager reads one user's manager ID ("" for none).
func (c *Client) manager(ctx context.Context, id string) (string, error) {
	var mid string
	cfg := &users.ItemManagerRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemManagerRequestBuilderGetQueryParameters{Select: []string{"id"}},
	}
	err := c.call(ctx, "GET /users/{id}/manager", callOpts{}, func(ctx context.Context) error {
		m, err := c.usersBuilder().ByUserId(id).Manager().Get(ctx, cfg)
		if err == nil && m != nil {
			mid = deref(m.GetId())
		}
		return err
	})
	if IsNotFound(err) {
		return "", nil
	}
	return mid, err
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if http.CanonicalHeaderKey(k) == http.CanonicalHeaderKey(name) {
			return v
		}
	}
	return ""
}

// batchItemError turns a failed sub-response into a GraphError.
func batchItemError(tenant string, r batchResponse) *GraphError {
	ge := &GraphError{Tenant: tenant, Op: "GET /users/{id}/manager ($batch)", Status: r.Status,
		RequestID: headerValue(r.Headers, "request-id")}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.NewDecoder(bytes.NewReader(r.Body)).Decode(&body) == nil {
		ge.Code, ge.Message = body.Error.Code, body.Error.Message
	}
	if ge.Forbidden() {
		ge.Permission = permissionFor(ge.Op)
	}
	return ge
}

// fillManagers sets Attrs["manager"] (ID or nil) on every user of us that
// keep accepts.
func (c *Client) fillManagers(ctx context.Context, us []directory.User, keep func(directory.User) bool) error {
	var ids []string
	for _, u := range us {
		if u.Removed == directory.NotRemoved && keep(u) {
			ids = append(ids, u.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	m, err := c.managers(ctx, ids)
	if err != nil {
		return err
	}
	for i := range us {
		u := &us[i]
		if u.Removed != directory.NotRemoved || !keep(*u) {
			continue
		}
		if u.Attrs == nil {
			u.Attrs = map[string]any{}
		}
		if mid, ok := m[u.ID]; ok {
			u.Attrs[directory.PropManager] = mid
		} else {
			u.Attrs[directory.PropManager] = nil
		}
	}
	return nil
}
