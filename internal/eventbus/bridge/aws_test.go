package bridge_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/eventbus/bridge"
)

// What EventBridge does with what a Bus sends, as moto_server answers it.
// Where moto differs from AWS, the test says so and asserts moto's answer,
// so that a change of moto's is noticed; code must not rely on either.
func TestBusOnMoto(t *testing.T) {
	t.Parallel()
	s := awstest.Stacks(t)[0]
	bus, err := bridge.FromEnv(awstest.Getenv(s.Env(nil)))
	require.NoError(t, err)
	ctx := context.Background()

	t.Run("an entry over 256 KB", func(t *testing.T) {
		// AWS refuses a PutEvents entry over 256 KB ("Calculating PutEvents
		// event entry size", EventBridge User Guide). moto accepts it and
		// delivers it: a size limit is never tested on moto.
		detail, err := json.Marshal(map[string]string{"pad": strings.Repeat("x", 300<<10)})
		require.NoError(t, err)
		require.NoError(t, bus.Publish(ctx, eventbus.Event{DetailType: "big", Detail: detail}))
		got := s.Events(t, 1, 10*time.Second)
		require.Len(t, got, 1)
		var d map[string]string
		require.NoError(t, json.Unmarshal(got[0].Detail, &d))
		assert.Len(t, d["pad"], 300<<10)
	})

	t.Run("a bus that does not exist", func(t *testing.T) {
		// AWS answers a PutEvents to a missing bus as a success, with an
		// EventId, and the event goes nowhere (aws/aws-cli#9186): Publish
		// cannot tell, and only the template's bus name guards it. moto
		// refuses the whole call with ResourceNotFoundException.
		missing := &bridge.Bus{Client: awstest.EventBridge(s.Endpoint), Name: s.Bus + "-missing"}
		err := missing.Publish(ctx, eventbus.Event{DetailType: "lost", Detail: json.RawMessage(`{}`)})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ResourceNotFoundException")
		assert.Contains(t, err.Error(), s.Bus+"-missing")
		_, err = awstest.EventBridge(s.Endpoint).DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(s.Bus + "-missing")})
		require.Error(t, err, "PutEvents created no bus")
	})
}

// A function's cold start refuses a bus that does not exist, naming it,
// and passes one that does; AWS answers PutEvents to a missing bus as a
// success, so this check is what stops a typo in EVENT_BUS_NAME.
func TestFromEnvCheckedOnMoto(t *testing.T) {
	t.Parallel()
	s := awstest.Stacks(t)[0]
	ctx := context.Background()
	for _, tc := range []struct {
		name, bus, want string
	}{
		{"an existing bus", s.Bus, ""},
		{"a missing bus", s.Bus + "-typo", "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bus, err := bridge.FromEnvChecked(ctx, awstest.Getenv(s.Env(map[string]string{"EVENT_BUS_NAME": tc.bus})))
			if tc.want == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.bus, bus.Name)
				return
			}
			require.Error(t, err)
			assert.Nil(t, bus)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), `"`+tc.bus+`"`)
			assert.Contains(t, err.Error(), "EVENT_BUS_NAME")
		})
	}

	t.Run("EventBridge unreachable", func(t *testing.T) {
		t.Parallel()
		s := awstest.Stacks(t)[0] // its own, so that the fault reaches no other subtest
		s.Inject("AWSEvents.DescribeEventBus", awstest.Fault{Status: 400, Type: "AccessDeniedException"})
		_, err := bridge.FromEnvChecked(ctx, awstest.Getenv(s.Env(nil)))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "checking that the bus")
		assert.Contains(t, err.Error(), "AccessDenied")
	})
}
