package awstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/eventbus/bridge"
	"github.com/wxcard/wxcard/internal/statetable"
)

// The stack a function sees under moto: the bus built from the
// environment delivers to the subscribed queue, and the table exists.
func TestMotoStack(t *testing.T) {
	ep := StartMoto(t)
	CreateStateTable(t, ep, "wxcard-state")
	queue := CreateBusWithQueue(t, ep, "wxcard-bus")
	env := Env(ep, map[string]string{"EVENT_BUS_NAME": "wxcard-bus", "STATE_TABLE_NAME": "wxcard-state"})

	bus, err := bridge.FromEnv(Getenv(env))
	require.NoError(t, err)
	at := time.Date(2025, 5, 20, 5, 29, 35, 0, time.UTC)
	require.NoError(t, bus.Publish(context.Background(), eventbus.Event{DetailType: "MEMBERCARD.ACCEPT_CARD", Time: at, Detail: json.RawMessage(`{"id":"n1"}`)}))

	got := ReceiveEvents(t, ep, queue, 1, 10*time.Second)
	require.Len(t, got, 1)
	assert.Equal(t, "wxcard", got[0].Source)
	assert.Equal(t, "MEMBERCARD.ACCEPT_CARD", got[0].DetailType)
	assert.Equal(t, "2025-05-20T05:29:35Z", got[0].Time)
	assert.JSONEq(t, `{"id":"n1"}`, string(got[0].Detail))

	_, err = statetable.FromEnv(Getenv(env))
	require.NoError(t, err)
}

// Faults injected by the proxy reach the real client, once each.
func TestStackInjectsFaults(t *testing.T) {
	for _, s := range Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			bus, err := bridge.FromEnv(Getenv(s.Env(nil)))
			require.NoError(t, err)
			ev := eventbus.Event{DetailType: "x", Detail: json.RawMessage(`{}`)}
			s.Inject("AWSEvents.PutEvents", Fault{Body: PutEventsPartialFailure}, Fault{Status: 400, Type: "ValidationException"})
			require.ErrorContains(t, bus.Publish(context.Background(), ev), "InternalFailure")
			require.ErrorContains(t, bus.Publish(context.Background(), ev), "ValidationException")
			require.NoError(t, bus.Publish(context.Background(), ev))
			assert.Len(t, s.Events(t, 1, 10*time.Second), 1)
			assert.Equal(t, 3, s.Calls("AWSEvents.PutEvents"))
		})
	}
}

// WXCARD_MOTO_ENDPOINT names a running moto_server, or "off" for none;
// unset, one is started; a value it does not know fails rather than
// being ignored.
func TestMotoEndpointEnv(t *testing.T) {
	started := func() (string, error) { return "http://127.0.0.1:5000", nil }
	cases := []struct {
		value, want string
		wantErr     error
	}{
		{value: "", want: "http://127.0.0.1:5000"},
		{value: "http://127.0.0.1:7000/", want: "http://127.0.0.1:7000"},
		{value: "off", wantErr: errMotoOff},
		{value: "fakes", wantErr: errMotoEnv},
		{value: "127.0.0.1:7000", wantErr: errMotoEnv},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			got, err := chooseMoto(tc.value, started)
			require.ErrorIs(t, err, tc.wantErr)
			assert.Equal(t, tc.want, got)
		})
	}
}

// Without moto_server a test that needs it skips, saying so, and fails
// instead under WXCARD_REQUIRE_MOTO=1; "off" skips either way, and a
// setting not understood fails either way.
func TestNoMoto(t *testing.T) {
	absent := errors.New("moto_server is not installed")
	cases := []struct {
		require  string
		err      error
		wantFail bool
		want     string
	}{
		{"", absent, false, "moto_server is not installed: this test needs moto_server (WXCARD_REQUIRE_MOTO=1 makes this a failure)"},
		{"1", absent, true, "moto_server is not installed (WXCARD_REQUIRE_MOTO=1: this machine must have it)"},
		{"1", errMotoOff, false, "WXCARD_MOTO_ENDPOINT=off: moto_server is not started"},
		{"", errMotoEnv, true, errMotoEnv.Error() + " (WXCARD_REQUIRE_MOTO=1: this machine must have it)"},
	}
	for _, tc := range cases {
		t.Run(tc.require+" "+tc.err.Error(), func(t *testing.T) {
			t.Setenv(RequireMotoEnv, tc.require)
			log := filepath.Join(t.TempDir(), "skips")
			t.Setenv(SkipLogEnv, log)
			rec := &recordingTB{TB: t}
			func() {
				defer func() { _ = recover() }()
				noMoto(rec, tc.err)
			}()
			assert.Equal(t, tc.wantFail, rec.failed)
			assert.Equal(t, tc.want, rec.msg)
			// Only a skip for want of moto_server is counted: not "off", not a failure.
			got, _ := os.ReadFile(log)
			if !tc.wantFail && !errors.Is(tc.err, errMotoOff) {
				assert.Equal(t, MotoMissing+"\n", string(got))
			} else {
				assert.Empty(t, got)
			}
		})
	}
}

// recordingTB records Fatalf and Skip instead of ending the test.
type recordingTB struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	panic("Fatalf")
}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic("Skipf")
}

func (r *recordingTB) Skip(args ...any) {
	r.msg = fmt.Sprint(args...)
	panic("Skip")
}
