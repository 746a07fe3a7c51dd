package awstest

import (
	"context"
	"encoding/json"
	"fmt"
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

// WXCARD_TEST_BACKENDS=fakes leaves moto_server out even where it is
// installed; a value it does not know fails rather than being ignored.
func TestBackendsEnv(t *testing.T) {
	cases := []struct {
		value     string
		wantNames []string
		wantFail  bool
	}{
		{value: "fakes", wantNames: []string{"fake"}},
		{value: "fake", wantFail: true},
		{value: "moto", wantFail: true},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			t.Setenv(BackendsEnv, tc.value)
			rec := &recordingTB{TB: t}
			var names []string
			func() {
				// t.Fatalf in a recordingTB ends only this function.
				defer func() { _ = recover() }()
				for _, b := range backends(rec) {
					names = append(names, b.name)
				}
			}()
			assert.Equal(t, tc.wantFail, rec.failed, "failed")
			if !tc.wantFail {
				assert.Equal(t, tc.wantNames, names)
				assert.Contains(t, rec.logs, BackendsEnv+"=fakes: running against the in-process fakes only")
			}
		})
	}
}

// recordingTB records Fatalf and Log instead of ending the test.
type recordingTB struct {
	testing.TB
	failed bool
	logs   []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = true
	panic("Fatalf")
}

func (r *recordingTB) Log(args ...any) { r.logs = append(r.logs, fmt.Sprint(args...)) }
