package money

import "testing"

func TestValidCurrency(t *testing.T) {
	cases := map[string]bool{"EUR": true, "USD": true, "JPY": true, "eur": false, "EU": false, "EURO": false, "ZZZ": false, "XXX": false, "XAU": false, "": false, "€UR": false}
	for code, want := range cases {
		if got := ValidCurrency(code); got != want {
			t.Errorf("ValidCurrency(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestString(t *testing.T) {
	cases := []struct {
		m    Money
		want string
	}{
		{Money{1999, "EUR"}, "19.99 EUR"},
		{Money{5, "USD"}, "0.05 USD"},
		{Money{500, "JPY"}, "500 JPY"},
		{Money{-150, "EUR"}, "-1.50 EUR"},
		{Money{1234, "BHD"}, "1.234 BHD"},
	}
	for _, c := range cases {
		if got := c.m.String(); got != c.want {
			t.Errorf("%+v.String() = %q, want %q", c.m, got, c.want)
		}
	}
}

func TestArithmetic(t *testing.T) {
	m, err := Money{250, "EUR"}.Mul(3)
	if err != nil || m.Amount != 750 {
		t.Fatalf("Mul = %v, %v", m, err)
	}
	if _, err := (Money{1 << 62, "EUR"}).Mul(4); err == nil {
		t.Error("Mul overflow not reported")
	}
	if _, err := (Money{1, "EUR"}).Add(Money{1, "USD"}); err == nil {
		t.Error("Add across currencies not refused")
	}
	s, err := Money{1, "EUR"}.Add(Money{2, "EUR"})
	if err != nil || s.Amount != 3 {
		t.Fatalf("Add = %v, %v", s, err)
	}
}
