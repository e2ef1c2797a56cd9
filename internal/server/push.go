package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/dialtone/dialtone/internal/config"
	"github.com/dialtone/dialtone/internal/metrics"
	"github.com/dialtone/dialtone/internal/outbox"
	"github.com/dialtone/dialtone/internal/push"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// pushProviders builds the push providers configured by the flags (docs/push.md); none when
// no push flag is set.
func pushProviders(cfg config.Config) (map[string]push.Provider, error) {
	providers := map[string]push.Provider{}
	if cfg.PushWebhookURL != "" {
		providers["webhook"] = push.NewWebhook(cfg.PushWebhookURL, nil)
	}
	if cfg.FCMCredentials != "" {
		creds, err := readSettingFile("fcm-credentials", cfg.FCMCredentials)
		if err != nil {
			return nil, err
		}
		fcm, err := push.NewFCM(push.FCMConfig{Credentials: creds, TokenURL: cfg.FCMTokenURL, Endpoint: cfg.FCMEndpoint})
		if err != nil {
			return nil, fmt.Errorf("--fcm-credentials: %w", err)
		}
		providers["fcm"] = fcm
	}
	if cfg.APNsKeyFile != "" {
		key, err := readSettingFile("apns-key-file", cfg.APNsKeyFile)
		if err != nil {
			return nil, err
		}
		apns, err := push.NewAPNs(push.APNsConfig{Key: key, KeyID: cfg.APNsKeyID, TeamID: cfg.APNsTeamID,
			Endpoint: cfg.APNsEndpoint})
		if err != nil {
			return nil, fmt.Errorf("--apns-key-file: %w", err)
		}
		providers["apns"] = apns
	}
	return providers, nil
}

// pushSetup is what the push settings name, read at start-up: the providers (none: no push
// is sent) and the profiles of --push-profiles.
type pushSetup struct {
	providers map[string]push.Provider
	profiles  map[string]push.Profile
}

// loadPushes reads the files of the push settings (--push-profiles, --fcm-credentials,
// --apns-key-file) and builds the providers; the error names the setting whose file is unusable.
func loadPushes(cfg config.Config) (pushSetup, error) {
	var p pushSetup
	if cfg.PushProfiles != "" { // config refuses it without a provider
		data, err := readSettingFile("push-profiles", cfg.PushProfiles)
		if err != nil {
			return pushSetup{}, err
		}
		if p.profiles, err = push.ParseProfiles(data); err != nil {
			return pushSetup{}, fmt.Errorf("--push-profiles: %w", err)
		}
	}
	var err error
	p.providers, err = pushProviders(cfg)
	return p, err
}

// addPushes adds the push worker, retrying each push until delivered or expiry old, when a
// provider is configured, and reports whether it did; without one, a worker that only gives up
// the pushes of an earlier start once expired. connected tells whether a user has a
// logged-in device; it is called only once the workers run.
func (d *delivery) addPushes(p pushSetup, expiry time.Duration, connected func(string) bool, store *sqlite.Store,
	m *metrics.Metrics, log *slog.Logger) bool {
	if len(p.providers) == 0 {
		d.addUnconfigured(switchboard.OutboxPush, expiry, store, m, log)
		return false
	}
	log.Info("push providers", "providers", slices.Sorted(maps.Keys(p.providers)))
	for _, provider := range p.providers {
		if c, ok := provider.(idleCloser); ok {
			d.senders = append(d.senders, c)
		}
	}
	warnUnusedProfileFields(p.profiles, p.providers, log)
	dispatcher := push.NewDispatcher(push.DispatcherConfig{Providers: p.providers, Profiles: p.profiles, Targets: store,
		Marks: store, Connected: connected, Log: log, Observer: m})
	d.add(switchboard.OutboxPush, expiry, dispatcher.Parallel(), func(ctx context.Context, rec switchboard.OutboxRecord) error {
		err := dispatcher.Deliver(ctx, rec)
		if errors.Is(err, push.ErrMalformed) || errors.Is(err, push.ErrNotAccepted) {
			return outbox.Permanent(err)
		}
		return err
	}, dispatcher.Forget, store, m, log)
	return true
}

// warnUnusedProfileFields logs a WARN for each field of a push profile that no configured
// provider uses (apnsCategory without APNs, say): a configuration mistake, or a profiles file
// shared with servers that have other providers, so the server starts all the same.
func warnUnusedProfileFields(profiles map[string]push.Profile, providers map[string]push.Provider, log *slog.Logger) {
	names := slices.Sorted(maps.Keys(profiles))
	for _, name := range names {
		for _, u := range profiles[name].Unused(providers) {
			log.Warn("push profile field is for a provider that is not configured, and unused",
				"profile", name, "field", u.Field, "provider", u.Provider)
		}
	}
}
