package customers

import (
	"strings"
	"testing"
)

func TestEmailAndPhoneRules(t *testing.T) {
	cases := []struct {
		name  string
		email string
		phone string
		ok    bool
	}{
		{"plain address", "ada@example.com", "", true},
		{"mixed case kept", "Ada@Example.COM", "", true},
		{"plus tag", "ada+shop@example.com", "", true},
		{"longest address", strings.Repeat("a", 242) + "@example.com", "", true},
		{"one byte too long", strings.Repeat("a", 243) + "@example.com", "", false},
		{"display name", "Ada <ada@example.com>", "", false},
		{"angle brackets", "<ada@example.com>", "", false},
		{"quoted local part", `"ada lovelace"@example.com`, "", false},
		{"comment", "ada@example.com (Ada)", "", false},
		{"no at sign", "ada.example.com", "", false},
		{"no domain", "ada@", "", false},
		{"shortest phone", "ada@example.com", "+1234567", true},
		{"longest phone", "ada@example.com", "+123456789012345", true},
		{"phone too short", "ada@example.com", "+123456", false},
		{"phone too long", "ada@example.com", "+1234567890123456", false},
		{"phone without plus", "ada@example.com", "1234567", false},
		{"phone with leading zero", "ada@example.com", "+0234567", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := NewCustomer{Email: c.email, Name: "Ada", Phone: c.phone, Password: "correct horse battery"}
			if err := n.Validate(); (err == nil) != c.ok {
				t.Fatalf("Validate(%+v) = %v, want ok=%v", n, err, c.ok)
			}
		})
	}
}
