package provider

import (
	"errors"
	"testing"
	"time"
)

func TestBinaryName(t *testing.T) {
	tests := []struct {
		name, image, want string
		err               bool
	}{
		{name: "registry, org and tag", image: "ghcr.io/faas-commerce/get-product:dev", want: "get-product"},
		{name: "no tag", image: "ghcr.io/faas-commerce/get-product", want: "get-product"},
		{name: "digest", image: "ghcr.io/faas-commerce/get-product@sha256:abc", want: "get-product"},
		{name: "tag and digest", image: "get-product:1.0@sha256:abc", want: "get-product"},
		{name: "registry with port", image: "localhost:5000/create-order:latest", want: "create-order"},
		{name: "bare name", image: "jwks", want: "jwks"},
		{name: "empty", image: "", err: true},
		{name: "trailing slash", image: "ghcr.io/org/", err: true},
		{name: "dot dot", image: "ghcr.io/org/..", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BinaryName(tt.image)
			if tt.err {
				if !errors.Is(err, ErrImageNotResolved) {
					t.Fatalf("BinaryName(%q) = %q, %v; want ErrImageNotResolved", tt.image, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("BinaryName(%q) = %q, %v; want %q", tt.image, got, err, tt.want)
			}
		})
	}
}

func TestParseScaling(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		want   scaling
		err    bool
	}{
		{name: "defaults", want: scaling{zeroDuration: 15 * time.Minute, min: 1, max: 20, target: 50, kind: ScaleCapacity}},
		{name: "zero with duration", labels: map[string]string{LabelScaleZero: "true", LabelScaleZeroDuration: "2s"},
			want: scaling{zero: true, zeroDuration: 2 * time.Second, min: 1, max: 20, target: 50, kind: ScaleCapacity}},
		{name: "rps", labels: map[string]string{LabelScaleType: "rps", LabelScaleTarget: "10", LabelScaleMin: "2", LabelScaleMax: "4"},
			want: scaling{zeroDuration: 15 * time.Minute, min: 2, max: 4, target: 10, kind: ScaleRPS}},
		{name: "min above max", labels: map[string]string{LabelScaleMin: "5", LabelScaleMax: "2"}, err: true},
		{name: "bad duration", labels: map[string]string{LabelScaleZeroDuration: "soon"}, err: true},
		{name: "bad type", labels: map[string]string{LabelScaleType: "cpu"}, err: true},
		{name: "bad bool", labels: map[string]string{LabelScaleZero: "yes please"}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseScaling(tt.labels, 15*time.Minute)
			if tt.err != (err != nil) || (!tt.err && got != tt.want) {
				t.Fatalf("parseScaling = %+v, %v; want %+v (error %v)", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{"128Mi": 128 << 20, "1Gi": 1 << 30, "256M": 256e6, "1048576": 1 << 20, "1.5Gi": 3 << 29} {
		if got, err := parseMemory(in); err != nil || got != want {
			t.Errorf("parseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1Mi", "0"} {
		if _, err := parseMemory(in); err == nil {
			t.Errorf("parseMemory(%q) accepted", in)
		}
	}
}
