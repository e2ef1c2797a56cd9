package clientip

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

func mustParse(t *testing.T, list string) Trusted {
	t.Helper()
	tr, err := Parse(list)
	if err != nil {
		t.Fatalf("Parse(%q): %v", list, err)
	}
	return tr
}

// request is a request from the TCP peer remote carrying the X-Forwarded-For fields xff, one
// header line each.
func request(remote string, xff ...string) *http.Request {
	r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

func TestParse(t *testing.T) {
	tests := []struct {
		list     string
		contains []string // addresses inside the trusted ranges
		outside  []string // addresses outside them
	}{
		{"", nil, []string{"127.0.0.1", "::1", "10.0.0.1"}},
		{"  ", nil, []string{"127.0.0.1"}},
		{"127.0.0.1", []string{"127.0.0.1"}, []string{"127.0.0.2", "::1"}},
		{"127.0.0.1, ::1", []string{"127.0.0.1", "::1"}, []string{"::2"}},
		{"10.0.0.0/8,192.168.1.0/24", []string{"10.255.0.1", "192.168.1.200"}, []string{"11.0.0.1", "192.168.2.1"}},
		{" 10.1.2.3/8 ", []string{"10.0.0.1"}, []string{"11.0.0.1"}}, // host bits set: the range they name
		{"2001:db8::/32", []string{"2001:db8:1::5"}, []string{"2001:db9::1"}},
		{"::ffff:10.0.0.1", []string{"10.0.0.1"}, []string{"10.0.0.2"}}, // an IPv4-mapped address is its IPv4 one
		{"::ffff:10.0.0.0/104", []string{"10.1.2.3"}, []string{"11.0.0.1"}},
	}
	for _, tt := range tests {
		tr := mustParse(t, tt.list)
		for _, a := range tt.contains {
			if got := tr.ClientIP(request(net.JoinHostPort(a, "1"), "203.0.113.9")); got != "203.0.113.9" {
				t.Errorf("Parse(%q): peer %s not trusted (client %s)", tt.list, a, got)
			}
		}
		for _, a := range tt.outside {
			if got := tr.ClientIP(request(net.JoinHostPort(a, "1"), "203.0.113.9")); got == "203.0.113.9" {
				t.Errorf("Parse(%q): peer %s trusted", tt.list, a)
			}
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, list := range []string{"10.0.0.300", "localhost", "10.0.0.0/33", "10.0.0.0/", "::1/129", "10.0.0.1,",
		",10.0.0.1", "10.0.0.1,,::1", "10.0.0.1 ::1", "10.0.0.0/8/8", "*", "fe80::1%eth0"} {
		_, err := Parse(list)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", list)
			continue
		}
		if !strings.Contains(err.Error(), "IP address or CIDR range") {
			t.Errorf("Parse(%q) = %q: does not say what is expected", list, err)
		}
	}
}

func TestClientIP(t *testing.T) {
	proxies := mustParse(t, "127.0.0.1, 10.0.0.0/8, 2001:db8::/32")
	tests := []struct {
		name    string
		trusted Trusted
		remote  string
		xff     []string
		want    string
	}{
		{"no trusted proxy: the peer", nil, "203.0.113.1:5000", []string{"198.51.100.1"}, "203.0.113.1"},
		{"untrusted peer: the header is ignored", proxies, "203.0.113.1:5000", []string{"198.51.100.1"}, "203.0.113.1"},
		{"untrusted IPv6 peer", proxies, "[2001:db9::1]:5000", []string{"198.51.100.1"}, "2001:db9::1"},
		{"trusted peer without header: the peer", proxies, "127.0.0.1:5000", nil, "127.0.0.1"},
		{"trusted peer with an empty header: the peer", proxies, "127.0.0.1:5000", []string{""}, "127.0.0.1"},
		{"one client", proxies, "127.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"the right-most untrusted, the left spoofable", proxies, "127.0.0.1:5000",
			[]string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops are skipped", proxies, "127.0.0.1:5000",
			[]string{"1.1.1.1, 198.51.100.1, 10.0.0.5,10.0.0.6"}, "198.51.100.1"},
		{"spaces and tabs", proxies, "127.0.0.1:5000", []string{" \t198.51.100.1 \t, 10.0.0.5 "}, "198.51.100.1"},
		{"several header lines read as one list", proxies, "127.0.0.1:5000",
			[]string{"1.1.1.1", "198.51.100.1, 10.0.0.5", "10.0.0.6"}, "198.51.100.1"},
		{"IPv6 client", proxies, "127.0.0.1:5000", []string{"2001:db9::7"}, "2001:db9::7"},
		{"IPv6 client in brackets", proxies, "127.0.0.1:5000", []string{"[2001:db9::7]"}, "2001:db9::7"},
		{"IPv6 client with a port", proxies, "127.0.0.1:5000", []string{"[2001:db9::7]:443"}, "2001:db9::7"},
		{"IPv4 client with a port", proxies, "127.0.0.1:5000", []string{"198.51.100.1:61000"}, "198.51.100.1"},
		{"IPv4-mapped client", proxies, "127.0.0.1:5000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"IPv4-mapped trusted peer", proxies, "[::ffff:127.0.0.1]:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"IPv6 trusted peer", proxies, "[2001:db8::1]:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"all trusted: the left-most", proxies, "127.0.0.1:5000", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"garbage at the right: the peer", proxies, "127.0.0.1:5000", []string{"1.1.1.1, not-an-ip"}, "127.0.0.1"},
		{"garbage behind trusted hops: the last trusted", proxies, "127.0.0.1:5000",
			[]string{"garbage, 10.0.0.7, 10.0.0.8"}, "10.0.0.7"},
		{"unknown: the peer", proxies, "127.0.0.1:5000", []string{"unknown"}, "127.0.0.1"},
		{"empty entry stops the walk", proxies, "127.0.0.1:5000", []string{"198.51.100.1,,10.0.0.5"}, "10.0.0.5"},
		{"an empty header line stops it too", proxies, "127.0.0.1:5000", []string{"198.51.100.1", "", "10.0.0.5"}, "10.0.0.5"},
		{"a host name is garbage", proxies, "127.0.0.1:5000", []string{"client.example.com"}, "127.0.0.1"},
		{"a zone is dropped", proxies, "127.0.0.1:5000", []string{"fe80::1%eth0"}, "fe80::1"},
		{"a CIDR is garbage", proxies, "127.0.0.1:5000", []string{"198.51.100.0/24"}, "127.0.0.1"},
		{"a peer address without port is kept", nil, "pipe", nil, "pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.trusted.ClientIP(request(tt.remote, tt.xff...)); got != tt.want {
				t.Errorf("ClientIP(peer %s, X-Forwarded-For %q) = %q, want %q", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

// The per-address limits count an IPv6 client by its /64, which one host usually owns whole
// (a client rotating its addresses within it stays one client), an IPv4 client by its whole
// address, and an IPv4-mapped IPv6 address as the IPv4 one (docs/operations.md).
func TestLimitKey(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"198.51.100.7", "198.51.100.7"},
		{"198.51.100.8", "198.51.100.8"},
		{"::ffff:198.51.100.7", "198.51.100.7"},
		{"2001:db8:1:2::7", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::7", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		// IPv4 clients that reach an IPv6-only server through a translator with the well-known
		// prefix (RFC 6052, SIIT-DC) are each their IPv4 address, not one /64 for them all.
		{"64:ff9b::c633:6407", "198.51.100.7"},
		{"64:ff9b::c633:6408", "198.51.100.8"},
		{"pipe", "pipe"}, // a peer that is no address (ClientIP returns it unchanged) is its own key
	}
	for _, tt := range tests {
		if got := LimitKey(tt.ip); got != tt.want {
			t.Errorf("LimitKey(%q) = %q, want %q", tt.ip, got, tt.want)
		}
	}
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true, "[::1]": true,
		"::ffff:127.0.0.1": true, "::1%lo": true,
		"": false, "0.0.0.0": false, "::": false, "10.0.0.1": false, "example.com": false, "localhost.example": false,
		"[127.0.0.1": false, "2001:db8::1": false, "::ffff:10.0.0.1": false,
	} {
		if got := Loopback(host); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", host, got, want)
		}
	}
}
