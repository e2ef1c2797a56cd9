// Package clientip tells the address of the client of an HTTP request: the TCP peer's, or,
// when the peer is a reverse proxy the operator trusts (--trusted-proxies), the address the
// proxies recorded in X-Forwarded-For. A client that is not a trusted proxy cannot choose the
// address the server sees. The package holds no state.
package clientip

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Trusted is the set of trusted reverse proxies; the zero value trusts none.
type Trusted []netip.Prefix

// Parse reads a comma-separated list of IP addresses and CIDR ranges (127.0.0.1, ::1,
// 10.0.0.0/8), with optional spaces around each. An empty or blank list trusts none. An
// IPv4-mapped IPv6 entry names its IPv4 address or range; a range with host bits set names the
// range they fall in (10.1.2.3/8 is 10.0.0.0/8). The error quotes the first entry refused.
func Parse(list string) (Trusted, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var out Trusted
	for _, entry := range strings.Split(list, ",") {
		p, err := parseEntry(strings.TrimSpace(entry))
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR range (such as 127.0.0.1, ::1 or 10.0.0.0/8)", strings.TrimSpace(entry))
		}
		out = append(out, p)
	}
	return out, nil
}

// parseEntry reads one address (a one-address range) or CIDR range; zones are refused.
func parseEntry(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("not an address")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// contains reports whether a is the address of a trusted proxy.
func (t Trusted) contains(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address of r's client, without port:
//   - the TCP peer's (r.RemoteAddr), unless it is a trusted proxy; X-Forwarded-For is then
//     ignored, as a client may write anything in it;
//   - from a trusted peer, the X-Forwarded-For entries (all its header lines, read as one
//     list) are walked from the right, each proxy having appended the address it was reached
//     from: the first entry that is not a trusted proxy is the client. When every entry is
//     trusted, the left-most is.
//   - An entry that is not an IP address (empty, "unknown", a host name, garbage) stops the
//     walk: what lies to its left was written by nobody the server trusts, so the client is the
//     last trusted address reached, the peer itself when the right-most entry is bad. A bad
//     header thus never gains a client an address, and so an allowance, of its own.
//
// Entries may carry a port (198.51.100.7:61000, [2001:db8::7]:443) or brackets, and spaces or
// tabs around them. IPv4-mapped IPv6 addresses are returned as IPv4, and zones are dropped.
// A RemoteAddr that does not parse as an address and port is returned unchanged.
func (t Trusted) ClientIP(r *http.Request) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	client := peer.Addr().Unmap().WithZone("")
	if !t.contains(client) {
		return client.String()
	}
	lines := r.Header.Values("X-Forwarded-For")
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for {
			cut := strings.LastIndexByte(rest, ',')
			a, ok := parseForwarded(rest[cut+1:])
			if !ok {
				return client.String()
			}
			client = a
			if !t.contains(a) {
				return client.String()
			}
			if cut < 0 {
				break
			}
			rest = rest[:cut]
		}
	}
	return client.String()
}

// parseForwarded reads one X-Forwarded-For entry: an address, bracketed or not, with an
// optional port, and optional spaces or tabs around it.
func parseForwarded(s string) (netip.Addr, bool) {
	s = strings.Trim(s, " \t")
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
				return netip.Addr{}, false
			}
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil {
				return netip.Addr{}, false
			}
		} else {
			a = ap.Addr()
		}
	}
	return a.Unmap().WithZone(""), true
}

// Loopback reports whether host, a host name or IP address without port (an IPv6 address
// bracketed or not), names this machine's loopback interface: "localhost" in any case, or an
// address of 127.0.0.0/8 or ::1 (with a zone or not), or an IPv4-mapped form of one. No name
// is looked up.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// ipv6LimitBits is the prefix an IPv6 client is counted by: a host is usually given a whole
// /64 (SLAAC, privacy addresses), and may take a new address of it at will.
const ipv6LimitBits = 64

// nat64 is the well-known prefix of IPv4/IPv6 translation (RFC 6052): an address in it is an
// IPv4 client's, in its last 32 bits.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// LimitKey returns the key the per-address limits count the client at ip (as ClientIP returns
// it) by: an IPv4 address is its own key, an IPv6 address its /64 ("2001:db8:1:2::/64"), so
// that a client rotating its addresses within its /64 does not gain an allowance per address.
// An IPv4-mapped IPv6 address, or one of the well-known translation prefix 64:ff9b::/96,
// counts as its IPv4 address, and a zone is dropped. A string that is not an address is its
// own key.
func LimitKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, ipv6LimitBits).Masked().String()
}
