package refresh

import "github.com/wxcard/wxcard/internal/pacedqueue"

// PacerFromEnv is the consumer's pace from REFRESH_CALLS_PER_SECOND
// (default DefaultCallsPerSecond; 1 to 10, WeChat Pay's limit) and
// REFRESH_CONCURRENCY (the event source mapping's maximum concurrency,
// default DefaultConcurrency; at most REFRESH_CALLS_PER_SECOND, so that
// each invocation may make at least one call a second). The template sets
// both from the same parameters as the mapping.
func PacerFromEnv(getenv func(string) string) (*pacedqueue.Pacer, error) {
	return pacedqueue.PacerFromEnv(getenv, "REFRESH_CALLS_PER_SECOND", "REFRESH_CONCURRENCY", DefaultCallsPerSecond, DefaultConcurrency, 10)
}
