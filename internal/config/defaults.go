package config

import "time"

// Default values applied by SetDefaults.
const (
	DefaultInterval              = 15 * time.Second
	DefaultCycleTimeout          = 30 * time.Minute
	DefaultConcurrencyPerTarget  = 64
	DefaultLeaseTTL              = 30 * time.Second
	DefaultQuarantineRatio       = 0.4
	DefaultQuarantineMinFailures = 10
	DefaultQuarantineInterval    = time.Hour
	DefaultFastInterval          = 10 * time.Second
	DefaultStampAttribute        = "extensionAttribute15"
	DefaultInviteRedirectURL     = "https://myapplications.microsoft.com"
	DefaultCredential            = CredClientSecret
)

// SetDefaults fills every setting left out of the file. Policy defaults
// (scope, mappings, lifecycle, thresholds) belong to package policy and are
// applied when a pair's policy is compiled.
func (c *Config) SetDefaults() {
	w := &c.Worker
	setDuration(&w.Interval, DefaultInterval)
	setDuration(&w.CycleTimeout, DefaultCycleTimeout)
	setDuration(&w.LeaseTTL, DefaultLeaseTTL)
	setDuration(&w.QuarantineInterval, DefaultQuarantineInterval)
	if _, written := c.lines["worker.fast_interval"]; !written {
		// Only when left out: "0s" written turns the fast lane off. Never
		// slower than the cycles (a short interval in tests and demos).
		setDuration(&w.FastInterval, min(DefaultFastInterval, w.Interval.Duration))
	}
	if w.ConcurrencyPerTarget == 0 {
		w.ConcurrencyPerTarget = DefaultConcurrencyPerTarget
	}
	if w.QuarantineRatio == 0 {
		w.QuarantineRatio = DefaultQuarantineRatio
	}
	if w.QuarantineMinFailures == 0 {
		w.QuarantineMinFailures = DefaultQuarantineMinFailures
	}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		if t.StampAttribute == "" {
			t.StampAttribute = DefaultStampAttribute
		}
		if t.Credential == "" {
			t.Credential = DefaultCredential
		}
	}
	for i := range c.Pairs {
		if c.Pairs[i].InviteRedirectURL == "" {
			c.Pairs[i].InviteRedirectURL = DefaultInviteRedirectURL
		}
	}
}

func setDuration(d *Duration, def time.Duration) {
	if d.Duration == 0 {
		d.Duration = def
	}
}
