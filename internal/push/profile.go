package push

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// maxProfileName is the longest resourcesID (behaviour §9), and so the longest profile name.
const maxProfileName = 32

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

// ParseProfiles reads a profiles file: one JSON object whose keys are resourcesIDs (1 to 32
// bytes) and whose values are Profiles. Unknown fields are errors, so a misspelt one is not
// silently ignored.
func ParseProfiles(data []byte) (map[string]Profile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var profiles map[string]Profile
	if err := dec.Decode(&profiles); err != nil {
		return nil, fmt.Errorf("push profiles: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("push profiles: more than one JSON value")
	}
	for name := range profiles {
		if name == "" || len(name) > maxProfileName {
			return nil, fmt.Errorf("push profiles: name %q is not 1 to %d bytes (a resourcesID)", name, maxProfileName)
		}
	}
	return profiles, nil
}
