package push

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"unicode/utf8"
)

// Fitter is a Provider whose messages have a size limit (APNs, FCM). The Dispatcher fits each
// message before it sends it, so that it can log the ones it shortened.
type Fitter interface {
	// Fit returns m as Send sends it to t: m itself when it is within the provider's limit,
	// else m shortened as fit says; an error wrapping ErrTooLarge when no shortening fits.
	Fit(t Target, m Message) (Message, error)
}

// fit returns m, shortened when its encoding (as encode returns it: the bytes the provider
// counts) is over limit bytes, and that encoding. Shortening goes, until the message fits:
//
//  1. the payload is dropped, and the message marked Truncated (the app then reads the call
//     from the server: login or queryCall);
//  2. the content is cut to its longest prefix that fits, at a UTF-8 boundary (to "" if none);
//  3. the title likewise.
//
// kind, callID, caller, inviter, serverTime, deadline and the profile are never changed. When even an
// empty title does not fit, fit fails with ErrTooLarge. The result depends only on m, limit
// and encode, and fitting a result again leaves it as it is.
func fit(m Message, limit int, encode func(Message) ([]byte, error)) (Message, []byte, error) {
	body, err := encode(m)
	if err != nil || len(body) <= limit {
		return m, body, err
	}
	m.Payload, m.Truncated = "", true
	if body, err = encode(m); err != nil || len(body) <= limit {
		return m, body, err
	}
	for _, field := range []*string{&m.Content, &m.Title} {
		full := *field
		var fits bool
		*field, body, fits, err = longestPrefix(full, limit, func(s string) ([]byte, error) {
			*field = s
			return encode(m)
		})
		if err != nil || fits {
			return m, body, err
		}
	}
	return m, nil, fmt.Errorf("%w: %d bytes with no payload, content or title, over %d", ErrTooLarge, len(body), limit)
}

// longestPrefix returns the longest prefix of s ending at a UTF-8 boundary whose encoding
// (encodeWith of the prefix) is at most limit bytes, with that encoding and true; or "", the
// encoding of "" and false when even "" is over. Encodings must grow with the prefix, as JSON
// escapes one character at a time.
func longestPrefix(s string, limit int, encodeWith func(string) ([]byte, error)) (string, []byte, bool, error) {
	cuts := []int{} // the boundaries, shortest prefix first: after each character, then s itself
	for i := 0; i < len(s); {
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
		cuts = append(cuts, i)
	}
	var encErr error
	// k is the number of cuts that fit: sort.Search finds the first that does not.
	k := sort.Search(len(cuts), func(i int) bool {
		body, err := encodeWith(s[:cuts[i]])
		if err != nil {
			encErr = err
			return true
		}
		return len(body) > limit
	})
	if encErr != nil {
		return "", nil, false, encErr
	}
	prefix := ""
	if k > 0 {
		prefix = s[:cuts[k-1]]
	}
	body, err := encodeWith(prefix)
	if err != nil {
		return "", nil, false, err
	}
	return prefix, body, len(body) <= limit, nil
}

// encodeJSON returns v's JSON without HTML escapes (which would make each < > & six bytes) and
// without the encoder's final newline: the bytes a provider counts.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
