package events

import (
	"strings"
	"testing"
)

func TestValidateUserID(t *testing.T) {
	max := "@" + strings.Repeat("a", MaxUserIDLength-len("@:example.org")) + ":example.org"
	if len(max) != MaxUserIDLength {
		t.Fatalf("test ID is %d bytes", len(max))
	}
	for _, c := range []struct {
		id string
		ok bool
	}{
		{"@alice:example.org", true},
		{"@alice:example.org:8448", true},
		{"@alice:localhost", true},
		{"@alice:1.2.3.4", true},
		{"@alice:1.2.3.4:80", true},
		{"@alice:[::1]", true},
		{"@alice:[2001:db8::1]:8448", true},
		{"@we/ird.user:example.org", true},
		{"@ALICE_=-./+:example.org", true},
		{"@!\"#$%&'()*+,-./;<=>?@[\\]^_`{|}~:example.org", true}, // historical localparts
		{max, true},
		{max[:len(max)-3] + "orgx", false}, // 256 bytes
		{"", false},
		{"@", false},
		{"alice:example.org", false},
		{"#alice:example.org", false},
		{"@alice", false},
		{"@:example.org", false},
		{"@alice:", false},
		{"@al ice:example.org", false},
		{"@al\tice:example.org", false},
		{"@al\x00ice:example.org", false},
		{"@alice\x7f:example.org", false},
		{"@älice:example.org", false},
		{"@alice:exa mple.org", false},
		{"@alice:exa_mple.org", false},
		{"@alice:example.org:", false},
		{"@alice:example.org:http", false},
		{"@alice:example.org:123456", false},
		{"@alice::8448", false},
		{"@alice:[::1", false},
		{"@alice:[]", false},
		{"@alice:[::g]", false},
		{"@alice:[::1]8448", false},
		{"@alice:[::1]:", false},
		{"@alice:example.org/x", false},
	} {
		err := ValidateUserID(c.id)
		if (err == nil) != c.ok {
			t.Errorf("ValidateUserID(%q) = %v, want ok=%v", c.id, err, c.ok)
		}
	}
}

func TestServerNameOf(t *testing.T) {
	for id, want := range map[string]string{
		"@alice:example.org":      "example.org",
		"@alice:example.org:8448": "example.org:8448",
		"@a:[::1]:1":              "[::1]:1",
	} {
		if got := ServerNameOf(id); got != want {
			t.Errorf("ServerNameOf(%s) = %s, want %s", id, got, want)
		}
	}
}
