package push

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// sizedProvider is a provider with a size limit, with the bytes its limit applies to.
type sizedProvider struct {
	name   string
	fitter Fitter
	target Target
	limit  int
	encode func(Message) ([]byte, error)
}

// sizedProviders returns APNs (alert and VoIP targets) and FCM, which need no server to fit.
func sizedProviders(t *testing.T) []sizedProvider {
	a, _ := newAPNs(t, newFakeAPNs(t), newClock())
	f, _, _ := newFCM(t)
	return []sizedProvider{
		{"apns alert", a, Target{Provider: "apns", Token: "tok", BundleID: "b"}, 4096, apnsBody},
		{"apns voip", a, Target{Provider: "apns", Token: "tok", BundleID: "b", VoIP: true}, 5120, apnsBody},
		{"fcm", f, Target{Provider: "fcm", Token: "tok"}, 4096, fcmData},
	}
}

// The worst case of §9 and docs/push.md: every field a user or the operator chooses at its
// bound and made of the character JSON writes longest (U+0001: six bytes), the longest caller
// (§1), and the largest times. Once shortened, it fits every provider: with no payload, title
// or content it is well within the limit, so no legal push is ever refused as too large.
func TestWorstCasePushFitsOnceShortened(t *testing.T) {
	profile := Profile{Sound: strings.Repeat("\x01", maxProfileField), APNsCategory: strings.Repeat("\x01", maxProfileField),
		AndroidChannelID: strings.Repeat("\x01", maxProfileField)}
	for _, p := range sizedProviders(t) {
		for _, kind := range []string{KindInvitation, KindWithdrawal, KindQuit, KindEnd} {
			if p.target.VoIP && kind != KindInvitation {
				continue // never sent to a VoIP target
			}
			m := escapedMessage(kind, 1<<53-1-30_000)
			m.Profile = profile
			got, err := p.fitter.Fit(p.target, m)
			if err != nil {
				t.Errorf("%s %s: Fit: %v", p.name, kind, err)
				continue
			}
			if body, _ := p.encode(got); len(body) > p.limit {
				t.Errorf("%s %s: fitted to %d bytes, over %d", p.name, kind, len(body), p.limit)
			}
			bare := got
			bare.Title, bare.Content = "", ""
			if body, _ := p.encode(bare); len(body) > p.limit*9/10 {
				t.Errorf("%s %s: %d bytes with no payload, title or content: within 10%% of the limit %d",
					p.name, kind, len(body), p.limit)
			}
		}
	}
}

// pushText draws a string of up to n bytes: a pattern of characters that JSON writes as they
// are, escapes in two bytes or in six, repeated to a drawn length.
func pushText(t *rapid.T, n int, label string) string {
	pattern := rapid.SliceOfN(rapid.SampledFrom([]rune{'a', 'é', '€', '😀', '\x01', '"', '\\', '<', '\u2028', '\n'}), 1, 8).
		Draw(t, label+" pattern")
	size := n - rapid.IntRange(0, n).Draw(t, label+" bytes short") // mostly near n: rapid draws small numbers more
	var b strings.Builder
	for i := 0; b.Len()+utf8.RuneLen(pattern[i%len(pattern)]) <= size; i++ {
		b.WriteRune(pattern[i%len(pattern)])
	}
	return b.String()
}

// Fit, for any legal push (docs/push.md "Size limits"): a push that fits is sent as it is;
// one that does not loses its payload first, then the end of its content, then of its title,
// each cut as little as fits; the result fits, keeps the call's identity, and fits as it is.
func TestFitShortensInOrderAndAsLittleAsNeeded(t *testing.T) {
	providers := sizedProviders(t)
	rapid.Check(t, func(t *rapid.T) {
		p := rapid.SampledFrom(providers).Draw(t, "provider")
		kind := KindInvitation
		if !p.target.VoIP {
			kind = rapid.SampledFrom([]string{KindInvitation, KindWithdrawal, KindQuit, KindEnd}).Draw(t, "kind")
		}
		m := Message{Kind: kind, CallID: strings.Repeat("C", 24), Caller: rapid.StringMatching(`[a-z<>&@]{1,32}`).Draw(t, "caller"),
			ServerTime: rapid.Int64Range(0, 1<<53-1).Draw(t, "serverTime"),
			Title:      pushText(t, 256, "title"), Content: pushText(t, 256, "content"), Payload: pushText(t, 2048, "payload"),
			ResourcesID: pushText(t, 32, "resourcesID"),
			Profile: Profile{Sound: pushText(t, maxProfileField, "sound"), APNsCategory: pushText(t, maxProfileField, "category"),
				AndroidChannelID: pushText(t, maxProfileField, "channel")}}
		if kind == KindInvitation {
			m.Deadline = m.ServerTime + 1
		}
		// The provider's limit, or a smaller one, so that titles and contents get cut too.
		limit := p.limit - rapid.IntRange(0, p.limit-100).Draw(t, "limit below the provider's")
		got, body, err := fit(m, limit, p.encode)
		bare := m
		bare.Payload, bare.Title, bare.Content, bare.Truncated = "", "", "", true
		if least, _ := p.encode(bare); len(least) > limit {
			if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrRejected) {
				t.Fatalf("%s: %d bytes at the least, over %d: fit gave %v, want ErrTooLarge", p.name, len(least), limit, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: fit: %v", p.name, err)
		}
		if sent, _ := p.encode(got); len(body) > limit || string(sent) != string(body) {
			t.Fatalf("%s: fitted to %d bytes (%d encoded), over %d or not the encoding", p.name, len(body), len(sent), limit)
		}
		if !utf8.ValidString(got.Title) || !utf8.ValidString(got.Content) || !json.Valid(body) {
			t.Fatalf("%s: title %q, content %q: a character split, or invalid JSON %s", p.name, got.Title, got.Content, body)
		}
		if limit == p.limit {
			if viaProvider, err := p.fitter.Fit(p.target, m); err != nil || viaProvider != got {
				t.Fatalf("%s: Fit gave %+v, %v; want fit's %+v", p.name, viaProvider, err, got)
			}
		}
		if whole, _ := p.encode(m); len(whole) <= limit {
			if got != m {
				t.Fatalf("%s: a push of %d bytes that fits was changed to %+v", p.name, len(whole), got)
			}
			return
		}
		want := m
		want.Payload, want.Truncated, want.Title, want.Content = "", true, got.Title, got.Content
		if got != want || !strings.HasPrefix(m.Title, got.Title) || !strings.HasPrefix(m.Content, got.Content) {
			t.Fatalf("%s: shortened to %+v: only the payload dropped and prefixes of title and content may differ", p.name, got)
		}
		if got.Title != m.Title && got.Content != "" {
			t.Fatalf("%s: title cut to %q while content %q remains", p.name, got.Title, got.Content)
		}
		// As little as fits: one more character of what was cut would be over the limit.
		for _, f := range []struct {
			name, got, full string
			set             func(*Message, string)
		}{
			{"content", got.Content, m.Content, func(m *Message, s string) { m.Content = s }},
			{"title", got.Title, m.Title, func(m *Message, s string) { m.Title = s }},
		} {
			if f.got == f.full || f.name == "content" && got.Title != m.Title {
				continue // whole, or content all dropped before the title was cut
			}
			_, n := utf8.DecodeRuneInString(f.full[len(f.got):])
			longer := got
			f.set(&longer, f.full[:len(f.got)+n])
			if body, _ := p.encode(longer); len(body) <= limit {
				t.Fatalf("%s: cut to %q, but %q (%d bytes) fits too", p.name, f.got, f.full[:len(f.got)+n], len(body))
			}
		}
		if again, _, err := fit(got, limit, p.encode); err != nil || again != got {
			t.Fatalf("%s: fitting the fitted push again gave %+v, %v", p.name, again, err)
		}
	})
}
