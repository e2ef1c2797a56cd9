package push

import (
	"slices"
	"strings"
	"testing"
)

func TestParseProfiles(t *testing.T) {
	got, err := ParseProfiles([]byte(`{"ring": {"sound": "ring.caf", "apnsCategory": "CALL", "androidChannelID": "calls"},
		"silent": {}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["ring"] != (Profile{Sound: "ring.caf", APNsCategory: "CALL", AndroidChannelID: "calls"}) ||
		got["silent"] != (Profile{}) {
		t.Errorf("profiles = %+v", got)
	}
	long := strings.Repeat("x", 256)
	if _, err := ParseProfiles([]byte(`{"ring": {"sound": "` + long + `", "apnsCategory": "` + long +
		`", "androidChannelID": "` + long + `"}}`)); err != nil {
		t.Errorf("ParseProfiles with 256-byte fields: %v", err)
	}
	for _, bad := range []string{
		`{"ring": {"sond": "x"}}`, // misspelt field
		`{"": {}}`,
		`{"` + strings.Repeat("r", 33) + `": {}}`,
		`["ring"]`,
		`{"ring": {}} {}`,
		`{"ring": {"sound": 1}}`,
		``,
		`null`,           // not an object (docs/push.md)
		`{"ring": {}}}`,  // a stray character after the object
		`{"ring": null}`, // a profile that is not an object
		// A field over 256 bytes, which a push could not always carry (docs/push.md "Size limits").
		`{"ring": {"sound": "` + strings.Repeat("s", 257) + `"}}`,
		`{"ring": {"apnsCategory": "` + strings.Repeat("c", 257) + `"}}`,
		`{"ring": {"androidChannelID": "` + strings.Repeat("a", 257) + `"}}`,
	} {
		if _, err := ParseProfiles([]byte(bad)); err == nil {
			t.Errorf("ParseProfiles(%q) accepted", bad)
		}
	}
}

// A field that only one provider uses is unused without it, unless the webhook provider, which
// carries every field, is configured (docs/push.md).
func TestProfileUnused(t *testing.T) {
	full := Profile{Sound: "ring.caf", APNsCategory: "CALL", AndroidChannelID: "calls"}
	var some Provider = NewWebhook("http://127.0.0.1:1/push", nil)
	tests := []struct {
		name       string
		p          Profile
		configured []string
		want       []UnusedField
	}{
		{"fcm alone", full, []string{"fcm"}, []UnusedField{{"apnsCategory", "apns"}}},
		{"apns alone", full, []string{"apns"}, []UnusedField{{"androidChannelID", "fcm"}}},
		{"fcm and apns", full, []string{"fcm", "apns"}, nil},
		{"webhook alone", full, []string{"webhook"}, nil},
		{"fcm alone, no apns field", Profile{Sound: "s", AndroidChannelID: "c"}, []string{"fcm"}, nil},
	}
	for _, tt := range tests {
		configured := map[string]Provider{}
		for _, name := range tt.configured {
			configured[name] = some
		}
		if got := tt.p.Unused(configured); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Unused = %v, want %v", tt.name, got, tt.want)
		}
	}
}
