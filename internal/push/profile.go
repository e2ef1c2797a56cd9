package push

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// maxProfileName is the longest resourcesID (behaviour §9), and so the longest profile name.
const maxProfileName = 32

// maxProfileField is the longest value of a profile field: with it, every push fits its
// provider's limit once shortened (docs/push.md "Size limits").
const maxProfileField = 256

// Profile is a push profile of the server's configuration, named by the resourcesID of an op's
// pushConfig (behaviour §9): how the pushes of that op look on the device. Empty fields keep
// the providers' defaults.
type Profile struct {
	// Sound is the sound file the device plays: APNs aps.sound (default "default"); FCM data
	// key "sound", for the app that posts the notification.
	Sound string `json:"sound,omitempty"`
	// APNsCategory is aps.category: the notification category, with its actions.
	APNsCategory string `json:"apnsCategory,omitempty"`
	// AndroidChannelID is the FCM data key "androidChannelID": the notification channel the
	// app posts in.
	AndroidChannelID string `json:"androidChannelID,omitempty"`
}

// ParseProfiles reads a profiles file: one JSON object, and nothing after it, whose keys are
// resourcesIDs (1 to 32 bytes) and whose values are Profile objects, each field at most 256
// bytes. Unknown fields are errors, so a misspelt one is not silently ignored; so is null, for
// the file or a profile.
func ParseProfiles(data []byte) (map[string]Profile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var raw map[string]*Profile
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("push profiles: %w", err)
	}
	if raw == nil {
		return nil, fmt.Errorf("push profiles: not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("push profiles: more than one JSON value")
	}
	profiles := make(map[string]Profile, len(raw))
	for name, p := range raw {
		switch {
		case name == "" || len(name) > maxProfileName:
			return nil, fmt.Errorf("push profiles: name %q is not 1 to %d bytes (a resourcesID)", name, maxProfileName)
		case p == nil:
			return nil, fmt.Errorf("push profiles: profile %q is not a JSON object", name)
		case max(len(p.Sound), len(p.APNsCategory), len(p.AndroidChannelID)) > maxProfileField:
			return nil, fmt.Errorf("push profiles: profile %q has a field longer than %d bytes", name, maxProfileField)
		}
		profiles[name] = *p
	}
	return profiles, nil
}

// UnusedField is a field of a profile that no configured provider uses.
type UnusedField struct {
	Field    string // its JSON name in the profiles file
	Provider string // the one provider that would use it
}

// Unused returns the fields of p that none of the configured providers (by name: webhook, fcm,
// apns) uses, in the order of the profiles table of docs/push.md: apnsCategory is used by apns
// alone and androidChannelID by fcm alone, and the webhook provider carries every field. Sound
// is used by every provider.
func (p Profile) Unused(configured map[string]Provider) []UnusedField {
	if _, ok := configured["webhook"]; ok {
		return nil
	}
	var out []UnusedField
	for _, f := range []struct {
		set             bool
		field, provider string
	}{{p.APNsCategory != "", "apnsCategory", "apns"}, {p.AndroidChannelID != "", "androidChannelID", "fcm"}} {
		if _, ok := configured[f.provider]; f.set && !ok {
			out = append(out, UnusedField{f.field, f.provider})
		}
	}
	return out
}
