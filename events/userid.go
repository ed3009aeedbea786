package events

import (
	"errors"
	"strings"
)

// MaxUserIDLength is the Matrix limit on a user ID, in bytes, sigil included.
const MaxUserIDLength = 255

// ValidateUserID checks userID against the Matrix grammar
// "@" localpart ":" server_name, at most 255 bytes. The localpart may use the
// historical character set (printable ASCII except ':'), which servers must
// still accept; the server name is a DNS name, an IPv4 address or a bracketed
// IPv6 address, with an optional port.
func ValidateUserID(userID string) error {
	if len(userID) > MaxUserIDLength {
		return errors.New("user ID is longer than 255 bytes")
	}
	if !strings.HasPrefix(userID, "@") {
		return errors.New("user ID must start with '@'")
	}
	local, server, ok := strings.Cut(userID[1:], ":")
	if !ok {
		return errors.New("user ID must have the form @localpart:domain")
	}
	if local == "" {
		return errors.New("user ID localpart is empty")
	}
	for i := 0; i < len(local); i++ {
		if c := local[i]; c < 0x21 || c > 0x7e {
			return errors.New("user ID localpart holds a character outside printable ASCII")
		}
	}
	return ValidateServerName(server)
}

// ValidateServerName checks a Matrix server name: host [":" port].
func ValidateServerName(name string) error {
	host, port := name, ""
	if strings.HasPrefix(name, "[") {
		end := strings.IndexByte(name, ']')
		if end < 0 {
			return errors.New("server name has an unclosed IPv6 literal")
		}
		host, port = name[:end+1], name[end+1:]
		if !validIPv6Literal(host[1 : len(host)-1]) {
			return errors.New("server name has an invalid IPv6 literal")
		}
		if port != "" {
			p, ok := strings.CutPrefix(port, ":")
			if !ok {
				return errors.New("server name has junk after the IPv6 literal")
			}
			port = p
			if !validPort(port) {
				return errors.New("server name has an invalid port")
			}
		}
		return nil
	}
	if h, p, ok := strings.Cut(name, ":"); ok {
		host, port = h, p
		if !validPort(port) {
			return errors.New("server name has an invalid port")
		}
	}
	if host == "" {
		return errors.New("server name is empty")
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return errors.New("server name holds a character not allowed in a DNS name")
		}
	}
	return nil
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

func validIPv6Literal(s string) bool {
	if len(s) < 2 || len(s) > 45 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
			return false
		}
	}
	return true
}

// ServerNameOf returns the server name part of a valid user ID.
func ServerNameOf(userID string) string {
	_, server, _ := strings.Cut(userID, ":")
	return server
}
