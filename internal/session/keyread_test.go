package session_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/kmssign/kmssigntest"
	"github.com/wxcard/wxcard/internal/lambdainit"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/internal/session"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

// KMS's answers while a role is new, or under load: what the keys
// function's cold start must wait out.
var (
	errAccessDenied = &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User: arn:aws:sts::123456789012:assumed-role/keys/fn is not authorized to perform: kms:GetPublicKey"}
	errThrottled    = &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	errInternal     = &types.KMSInternalException{Message: new("internal")}
	errNoAnswer     = errors.New("dial tcp 10.0.0.1:443: connect: connection reset by peer")
	errPendingDel   = &types.KMSInvalidStateException{Message: new("arn:aws:kms:us-east-1:123456789012:key/k1 is pending deletion.")}
)

// scriptedKMS answers each key's scripted errors first, in order, then
// always[key] if set, then as the stand-in does.
type scriptedKMS struct {
	*kmssigntest.KMS
	mu     sync.Mutex
	script map[string][]error
	always map[string]error
	calls  map[string]int
}

func newScriptedKMS(script map[string][]error, always map[string]error) *scriptedKMS {
	k := &scriptedKMS{KMS: kmssigntest.New(), script: map[string][]error{}, always: always, calls: map[string]int{}}
	for id, errs := range script {
		k.script[id] = append([]error(nil), errs...)
	}
	k.AddKey("k0", wxpaytest.PooledKey(0))
	k.AddKey("k1", wxpaytest.PooledKey(1))
	k.AddKeyWith("encrypt", kmssigntest.Key{Private: wxpaytest.PooledKey(2), Spec: types.KeySpecRsa2048, Usage: types.KeyUsageTypeEncryptDecrypt,
		Algorithms: []types.SigningAlgorithmSpec{}})
	return k
}

func (k *scriptedKMS) GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	id := *in.KeyId
	k.mu.Lock()
	k.calls[id]++
	if err := ctx.Err(); err != nil {
		k.mu.Unlock()
		return nil, err
	}
	var err error
	if s := k.script[id]; len(s) > 0 {
		err, k.script[id] = s[0], s[1:]
	} else {
		err = k.always[id]
	}
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return k.KMS.GetPublicKey(ctx, in, opts...)
}

func (k *scriptedKMS) callsOf(id string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.calls[id]
}

// fakeClock is Deps.Now and Deps.Sleep: sleeping moves it, at once.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	return nil
}

func (c *fakeClock) total() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t time.Duration
	for _, d := range c.slept {
		t += d
	}
	return t
}

// keysStart is one cold start of the keys function, as its main runs it:
// lambdainit's logger and emitter for "sessionkeys".
type keysStart struct {
	kms        *scriptedKMS
	clock      *fakeClock
	logs, emf  *logBuf
	keys       *session.Keys
	err        error
	kid0, kid1 string
}

func startKeys(t *testing.T, ctx context.Context, environ map[string]string, kms *scriptedKMS) *keysStart {
	t.Helper()
	s := &keysStart{kms: kms, clock: &fakeClock{now: time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)}, logs: &logBuf{}, emf: &logBuf{}}
	fn := lambdainit.From("sessionkeys", s.logs, s.emf, env(nil))
	s.keys, s.err = session.KeysFromEnv(ctx, env(environ), session.Deps{KMS: kms, Logger: fn.Logger, Metrics: fn.Metrics, Now: s.clock.Now, Sleep: s.clock.Sleep})
	s.kid0, _ = session.KeyID(&wxpaytest.PooledKey(0).PublicKey)
	s.kid1, _ = session.KeyID(&wxpaytest.PooledKey(1).PublicKey)
	return s
}

// published are the kids of the JWKS served.
func (s *keysStart) published(t *testing.T) []string {
	t.Helper()
	require.NoError(t, s.err)
	resp, err := s.keys.Handle(context.Background(), get(session.JWKSPath, "GET", "x.example.com"))
	require.NoError(t, err)
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &set))
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// unreadable is the PreviousKeyUnreadable the cold start emitted, checked
// to be the metric the alarm reads: namespace wxcard, the function
// dimension alone.
func (s *keysStart) unreadable(t *testing.T) float64 {
	t.Helper()
	var sum float64
	for _, line := range bytes.Split([]byte(s.emf.String()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		r, err := metrics.Parse(line)
		require.NoError(t, err)
		if _, ok := r.Values["PreviousKeyUnreadable"]; ok {
			assert.Equal(t, "wxcard", r.Namespace)
			assert.Equal(t, [][]string{{"function"}}, r.Sets)
			assert.Equal(t, map[string]string{"function": "sessionkeys"}, r.Dimensions)
			assert.Equal(t, metrics.Count, r.Units["PreviousKeyUnreadable"])
		}
		sum += r.Sum("PreviousKeyUnreadable")
	}
	return sum
}

// errorLines are the ERROR lines of the log.
func (s *keysStart) errorLines(t *testing.T) []map[string]any {
	var out []map[string]any
	for _, l := range s.logs.lines(t) {
		if l["level"] == "ERROR" {
			out = append(out, l)
		}
	}
	return out
}

var (
	bothKeys   = map[string]string{"SESSION_KMS_KEY_ID": "k0", "SESSION_PREVIOUS_KMS_KEY_IDS": "k1"}
	currentKey = map[string]string{"SESSION_KMS_KEY_ID": "k0"}
)

// The cold start waits out what may heal: a role and key made seconds
// earlier (AccessDenied while IAM propagates), throttling, KMS's own
// faults, no answer. Without the retries, the first two cases refuse to
// start or leave k1 out.
func TestKeysFromEnvRetriesWhatMayHeal(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		environ   map[string]string
		script    map[string][]error
		wantSlept []time.Duration
	}{
		"current key denied twice, then read": {currentKey, map[string][]error{"k0": {errAccessDenied, errAccessDenied}},
			[]time.Duration{200 * time.Millisecond, 400 * time.Millisecond}},
		"previous key recovers within the window": {bothKeys, map[string][]error{"k1": {errAccessDenied, errThrottled, errInternal, errNoAnswer}},
			[]time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second}},
		// Right after CreateKey, KMS may not know the key yet (eventual
		// consistency): for the current key, the stack's own, that heals.
		"current key not found yet": {currentKey, map[string][]error{"k0": {&types.NotFoundException{Message: new("not yet")}}},
			[]time.Duration{200 * time.Millisecond}},
		"nothing to wait for": {bothKeys, nil, nil},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startKeys(t, context.Background(), tc.environ, newScriptedKMS(tc.script, nil))
			want := []string{s.kid0}
			if tc.environ["SESSION_PREVIOUS_KMS_KEY_IDS"] != "" {
				want = append(want, s.kid1)
			}
			assert.Equal(t, want, s.published(t))
			assert.Equal(t, tc.wantSlept, s.clock.slept)
			assert.Empty(t, s.errorLines(t))
			assert.Zero(t, s.unreadable(t))
			for id, errs := range tc.script {
				assert.Equal(t, len(errs)+1, s.kms.callsOf(id), id)
			}
		})
	}
}

// The current key is required: unread after the retries (or at once for
// what cannot heal), the function refuses to start, within the budget.
func TestKeysFromEnvRefusesWithoutTheCurrentKey(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for name, tc := range map[string]struct {
		ctx      context.Context
		keyID    string
		always   error
		code     string
		retried  bool
		attempts int
	}{
		"denied throughout":           {context.Background(), "k0", errAccessDenied, "AccessDeniedException", true, 9},
		"no answer throughout":        {context.Background(), "k0", errNoAnswer, "NoAnswer", true, 9},
		"never found":                 {context.Background(), "gone", nil, "NotFoundException", true, 9},
		"a key that cannot sign":      {context.Background(), "encrypt", nil, "UnsuitableKey", false, 1},
		"refused as invalid usage":    {context.Background(), "k0", &types.InvalidKeyUsageException{Message: new("usage")}, "InvalidKeyUsageException", false, 1},
		"the cold start was given up": {cancelled, "k0", nil, "", false, 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startKeys(t, tc.ctx, map[string]string{"SESSION_KMS_KEY_ID": tc.keyID}, newScriptedKMS(nil, map[string]error{"k0": tc.always}))
			require.ErrorContains(t, s.err, "SESSION_KMS_KEY_ID: ")
			assert.Nil(t, s.keys)
			assert.ErrorContains(t, s.err, tc.code)
			assert.Equal(t, tc.attempts, s.kms.callsOf(tc.keyID))
			if tc.retried {
				// Retried through the window, never past it: the wait is
				// within the budget, and the next wait would not have been.
				assert.LessOrEqual(t, s.clock.total(), session.KeysReadBudget)
				assert.Greater(t, s.clock.total(), session.KeysReadBudget-session.KeyRetryMax)
			} else {
				assert.Empty(t, s.clock.slept)
			}
		})
	}
}

// A previous key that cannot be read is left out of the JWKS, logged and
// counted; the current key's tokens keep verifying.
func TestKeysFromEnvLeavesOutAnUnreadablePreviousKey(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		previous string
		always   error
		code     string
		retried  bool
	}{
		"pending deletion":  {"k1", errPendingDel, "KMSInvalidStateException", false},
		"deleted":           {"gone", nil, "NotFoundException", false},
		"cannot sign":       {"encrypt", nil, "UnsuitableKey", false},
		"denied throughout": {"k1", errAccessDenied, "AccessDeniedException", true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			arn := "arn:aws:kms:us-east-1:123456789012:key/" + tc.previous
			kms := newScriptedKMS(nil, map[string]error{arn: tc.always})
			kms.AddKey("arn:aws:kms:us-east-1:123456789012:key/k1", wxpaytest.PooledKey(1))
			if tc.previous == "encrypt" {
				kms.AddKeyWith(arn, kmssigntest.Key{Private: wxpaytest.PooledKey(2), Spec: types.KeySpecRsa2048, Usage: types.KeyUsageTypeEncryptDecrypt})
			}
			s := startKeys(t, context.Background(), map[string]string{"SESSION_KMS_KEY_ID": "k0", "SESSION_PREVIOUS_KMS_KEY_IDS": arn}, kms)
			assert.Equal(t, []string{s.kid0}, s.published(t))
			assert.Equal(t, 1.0, s.unreadable(t))
			lines := s.errorLines(t)
			require.Len(t, lines, 1)
			assert.Equal(t, "SESSION_PREVIOUS_KMS_KEY_IDS", lines[0]["env"])
			assert.Equal(t, arn, lines[0]["key_id"])
			assert.Equal(t, tc.code, lines[0]["code"])
			assert.Contains(t, lines[0]["msg"], "left out of the JWKS")
			if tc.retried {
				assert.LessOrEqual(t, s.clock.total(), session.KeysReadBudget)
				assert.Greater(t, s.clock.total(), session.KeysReadBudget-session.KeyRetryMax)
			} else {
				assert.Empty(t, s.clock.slept, "what cannot heal costs no wait at every cold start")
				assert.Equal(t, 1, kms.callsOf(arn))
			}
		})
	}
}

// The budget fits Lambda's init phase with the refusal's report after it.
func TestKeysReadBudget(t *testing.T) {
	t.Parallel()
	assert.Less(t, session.KeysReadBudget+lambdainit.ReportTimeout, lambdainit.InitPhase)
	assert.GreaterOrEqual(t, session.KeysReadBudget, 5*time.Second, "long enough for IAM to propagate a new role, usually")
}
