package refresh

import (
	"fmt"
	"strconv"
	"strings"
)

// PacerFromEnv is the consumer's pace from REFRESH_CALLS_PER_SECOND
// (default DefaultCallsPerSecond; 1 to 10, WeChat Pay's limit) and
// REFRESH_CONCURRENCY (the event source mapping's maximum concurrency,
// default DefaultConcurrency; at most REFRESH_CALLS_PER_SECOND, so that
// each invocation may make at least one call a second): a Pacer of
// Interval(rate, concurrency). The template sets both from the same
// parameters as the mapping.
func PacerFromEnv(getenv func(string) string) (*Pacer, error) {
	rate, err := intFromEnv(getenv, "REFRESH_CALLS_PER_SECOND", DefaultCallsPerSecond, 10, "WeChat Pay's limit")
	if err != nil {
		return nil, err
	}
	concurrency, err := intFromEnv(getenv, "REFRESH_CONCURRENCY", DefaultConcurrency, 10, "the most invocations at once")
	if err != nil {
		return nil, err
	}
	// Checked after the defaults: a rate of 1 with the default concurrency
	// of 2 would otherwise pace nothing.
	if concurrency > rate {
		return nil, fmt.Errorf("REFRESH_CONCURRENCY is %d, more than REFRESH_CALLS_PER_SECOND (%d): each invocation must make at least one call a second", concurrency, rate)
	}
	return &Pacer{Interval: Interval(rate, concurrency)}, nil
}

func intFromEnv(getenv func(string) string, name string, def, most int, why string) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > most {
		return 0, fmt.Errorf("%s is %.20q: want a whole number from 1 to %d (%s)", name, v, most, why)
	}
	return n, nil
}
