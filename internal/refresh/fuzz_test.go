package refresh_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/refresh"
	"github.com/wxcard/wxcard/pkg/membercard"
)

// A queue message is untrusted (anyone who may send to the queue wrote
// it): whatever parses names one well-formed brand, and writes back the
// same.
func FuzzParseMessage(f *testing.F) {
	for _, seed := range []string{`{"brand_id":"1004"}`, `{}`, `{"brand_id":1}`, `{"BRAND_ID":"1"}`, `{"brand_id":"1","brand_id":"2"}`, `{"brand_id":"\u0031"}`, `[`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		m, err := refresh.ParseMessage(body)
		if err != nil {
			assert.Equal(t, refresh.Message{}, m)
			return
		}
		require.NoError(t, membercard.CheckID("brand_id", m.BrandID, 32))
		again, err := refresh.ParseMessage(m.Body())
		require.NoError(t, err)
		assert.Equal(t, m, again)
	})
}

// The scheduler's payload comes from whoever may invoke it: whatever
// decodes is one command, all of whose brand IDs are well formed.
func FuzzCommand(f *testing.F) {
	for _, seed := range []string{`{}`, `{"brand_ids":["1004"]}`, `{"remove_brand_ids":["1004"]}`, scheduledEvent,
		`{"brand_ids":["1"],"remove_brand_ids":["2"]}`, `{"source":"aws.events","detail-type":"x"}`, `null`, `{"brand_ids":null}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		var cmd refresh.Command
		if json.Unmarshal([]byte(payload), &cmd) != nil {
			return
		}
		assert.False(t, cmd.BrandIDs != nil && cmd.Remove != nil, "two commands in one")
		assert.False(t, cmd.Envelope != nil && (cmd.BrandIDs != nil || cmd.Remove != nil), "an envelope with brands")
		for _, id := range append(cmd.BrandIDs, cmd.Remove...) {
			require.NoError(t, membercard.CheckID("brand_id", id, 32))
		}
		assert.LessOrEqual(t, len(cmd.BrandIDs)+len(cmd.Remove), 5000)
	})
}
