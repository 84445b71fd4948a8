package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// graphAdmin is a plain HTTP Graph client the demo uses to play the source
// tenants' admins (joiners, movers, leavers). ctsync itself reaches Graph
// only through package tenants and the Graph SDK; this stands apart on
// purpose, as a different app an HR system would be.
type graphAdmin struct {
	http      *http.Client
	authority string // https://host (tenant path appended)
	graph     string // https://host/v1.0
	tenantID  string
	clientID  string
	secret    string
	token     string
}

// signIn gets an app token with the client-credentials flow.
func (g *graphAdmin) signIn(ctx context.Context) error {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {g.clientID},
		"client_secret": {g.secret},
		"scope":         {"https://graph.microsoft.com/.default"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.authority+"/"+g.tenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := g.do(req, &out); err != nil {
		return fmt.Errorf("sign in to tenant %s: %w", g.tenantID, err)
	}
	g.token = out.AccessToken
	return nil
}

// call sends a Graph request with a JSON body and decodes the answer.
func (g *graphAdmin) call(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.graph+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := g.do(req, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

func (g *graphAdmin) do(req *http.Request, out any) error {
	resp, err := g.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// members lists up to n internal members with the given properties.
func (g *graphAdmin) members(ctx context.Context, n int, props string) ([]map[string]any, error) {
	var out struct {
		Value []map[string]any `json:"value"`
	}
	q := url.Values{"$top": {fmt.Sprint(n)}, "$select": {props}, "$filter": {"userType eq 'Member'"}}
	if err := g.call(ctx, http.MethodGet, "/users?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return out.Value, nil
}
