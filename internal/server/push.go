package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"

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
		creds, err := os.ReadFile(cfg.FCMCredentials)
		if err != nil {
			return nil, fmt.Errorf("--fcm-credentials: %w", err)
		}
		fcm, err := push.NewFCM(push.FCMConfig{Credentials: creds, TokenURL: cfg.FCMTokenURL, Endpoint: cfg.FCMEndpoint})
		if err != nil {
			return nil, fmt.Errorf("--fcm-credentials: %w", err)
		}
		providers["fcm"] = fcm
	}
	if cfg.APNsKeyFile != "" {
		key, err := os.ReadFile(cfg.APNsKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--apns-key-file: %w", err)
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

// addPushes adds the push worker when a provider is configured, and reports whether it did.
// connected tells whether a user has a logged-in device; it is called only once the workers
// run.
func (d *delivery) addPushes(cfg config.Config, connected func(string) bool, store *sqlite.Store, m *metrics.Metrics,
	log *slog.Logger) (bool, error) {
	var profiles map[string]push.Profile
	if cfg.PushProfiles != "" { // config refuses it without a provider
		data, err := os.ReadFile(cfg.PushProfiles)
		if err == nil {
			profiles, err = push.ParseProfiles(data)
		}
		if err != nil {
			return false, fmt.Errorf("--push-profiles: %w", err)
		}
	}
	providers, err := pushProviders(cfg)
	if err != nil || len(providers) == 0 {
		return false, err
	}
	names := make([]string, 0, len(providers))
	for name := range providers {
		names = append(names, name)
	}
	log.Info("push providers", "providers", names)
	warnUnusedProfileFields(profiles, providers, log)
	dispatcher := push.NewDispatcher(push.DispatcherConfig{Providers: providers, Profiles: profiles, Targets: store,
		Marks: store, Connected: connected, Log: log, Observer: m})
	d.add(switchboard.OutboxPush, cfg.PushExpiry, dispatcher.Parallel(), func(ctx context.Context, rec switchboard.OutboxRecord) error {
		err := dispatcher.Deliver(ctx, rec)
		if errors.Is(err, push.ErrMalformed) || errors.Is(err, push.ErrNotAccepted) {
			return outbox.Permanent(err)
		}
		return err
	}, store, m, log)
	return true, nil
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
