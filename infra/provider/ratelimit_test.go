package provider

import (
	"testing"
	"time"
)

func TestLimiterRefillsAtItsRateUpToTheBurst(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(2, 3, 10)
	l.now = func() time.Time { return now }
	for i := range 3 {
		if ok, _ := l.take("a"); !ok {
			t.Fatalf("request %d within the burst refused", i+1)
		}
	}
	ok, wait := l.take("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("over the burst: ok %v, wait %s; want refused, 500ms", ok, wait)
	}
	if retryAfterSeconds(wait) != 1 {
		t.Errorf("Retry-After for 500ms is %d, want 1", retryAfterSeconds(wait))
	}
	if ok, _ := l.take("b"); !ok {
		t.Error("another key is refused")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.take("a"); !ok {
		t.Error("a refilled token is refused")
	}
	if ok, _ := l.take("a"); ok {
		t.Error("more than the refill was granted")
	}
	now = now.Add(time.Hour) // refills to the burst, never beyond
	for i := range 3 {
		if ok, _ := l.take("a"); !ok {
			t.Fatalf("request %d after an idle hour refused", i+1)
		}
	}
	if ok, _ := l.take("a"); ok {
		t.Error("an idle hour gave more than the burst")
	}
}

func TestLimiterKeepsAtMostMaxKeys(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(1, 5, 100)
	l.now = func() time.Time { return now }
	for i := range 1000 {
		l.take(string(rune('a'+i%26)) + time.Duration(i).String())
		if len(l.buckets) > 100 {
			t.Fatalf("%d buckets kept, max 100", len(l.buckets))
		}
	}
	now = now.Add(2 * time.Minute)
	l.take("late")
	if len(l.buckets) != 1 {
		t.Errorf("%d buckets after every client went idle, want 1", len(l.buckets))
	}
	if retryAfterSeconds(1500*time.Millisecond) != 2 || retryAfterSeconds(0) != 1 {
		t.Error("Retry-After is not rounded up to whole seconds of at least 1")
	}
}
