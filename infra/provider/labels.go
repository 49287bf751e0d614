package provider

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The OpenFaaS labels the provider honours.
const (
	LabelScaleZero         = "com.openfaas.scale.zero"
	LabelScaleZeroDuration = "com.openfaas.scale.zero-duration"
	LabelScaleMin          = "com.openfaas.scale.min"
	LabelScaleMax          = "com.openfaas.scale.max"
	LabelScaleTarget       = "com.openfaas.scale.target"
	LabelScaleType         = "com.openfaas.scale.type"
)

// Scale types for LabelScaleType.
const (
	ScaleCapacity = "capacity" // in-flight requests per replica
	ScaleRPS      = "rps"      // requests per second per replica
)

// scaling is a function's scaling policy, read from its labels.
type scaling struct {
	zero         bool
	zeroDuration time.Duration
	min, max     int
	target       float64
	kind         string
}

func parseScaling(labels map[string]string, defaultZero time.Duration) (scaling, error) {
	s := scaling{zeroDuration: defaultZero, min: 1, max: 20, target: 50, kind: ScaleCapacity}
	var err error
	if v, ok := labels[LabelScaleZero]; ok {
		if s.zero, err = strconv.ParseBool(v); err != nil {
			return s, fmt.Errorf("label %s: %q is not a boolean", LabelScaleZero, v)
		}
	}
	if v, ok := labels[LabelScaleZeroDuration]; ok {
		if s.zeroDuration, err = time.ParseDuration(v); err != nil || s.zeroDuration <= 0 {
			return s, fmt.Errorf("label %s: %q is not a positive duration such as 2s or 15m", LabelScaleZeroDuration, v)
		}
	}
	if s.min, err = intLabel(labels, LabelScaleMin, s.min, 0); err != nil {
		return s, err
	}
	if s.max, err = intLabel(labels, LabelScaleMax, s.max, 1); err != nil {
		return s, err
	}
	if s.min > s.max {
		return s, fmt.Errorf("label %s (%d) is above %s (%d)", LabelScaleMin, s.min, LabelScaleMax, s.max)
	}
	if v, ok := labels[LabelScaleTarget]; ok {
		if s.target, err = strconv.ParseFloat(v, 64); err != nil || s.target <= 0 || math.IsInf(s.target, 0) {
			return s, fmt.Errorf("label %s: %q is not a positive number", LabelScaleTarget, v)
		}
	}
	if v, ok := labels[LabelScaleType]; ok {
		switch strings.ToLower(v) {
		case ScaleCapacity, ScaleRPS:
			s.kind = strings.ToLower(v)
		default:
			return s, fmt.Errorf("label %s: %q is not one of capacity, rps", LabelScaleType, v)
		}
	}
	return s, nil
}

func intLabel(labels map[string]string, key string, def, lowest int) (int, error) {
	v, ok := labels[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lowest {
		return 0, fmt.Errorf("label %s: %q is not a whole number >= %d", key, v, lowest)
	}
	return n, nil
}

// parseMemory reads a Kubernetes-style quantity such as 128Mi, 1G or 268435456 as bytes.
func parseMemory(q string) (int64, error) {
	q = strings.TrimSpace(q)
	units := []struct {
		suffix string
		mult   float64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
	}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(q, u.suffix) {
			q, mult = strings.TrimSuffix(q, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(q, 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) {
		return 0, fmt.Errorf("memory limit %q is not a quantity such as 128Mi", q)
	}
	return int64(n * mult), nil
}
