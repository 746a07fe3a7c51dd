// Package refresh fans the scheduled refresh of product authorities out
// over SQS, so that it covers thousands of brands at WeChat Pay's pace:
//
//   - the Scheduler, invoked by the schedule, sends one message per brand
//     to the refresh queue (the brands of AUTHORITY_BRAND_IDS and every
//     brand with a snapshot in the state table), in batches, in seconds;
//   - the consumer (NewConsumer: a pacedqueue.Consumer), invoked by the
//     queue's event source mapping with a batch of messages, checks each
//     brand (cardapi.BrandChecker) at a pace that keeps all its concurrent
//     invocations together under the rate the deployment allows, and
//     reports the brands that failed so that SQS retries them alone and,
//     in the end, dead-letters them.
//
// A brand checked twice in one period is harmless: the snapshot
// comparison makes the second check silent.
package refresh

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wxcard/wxcard/pkg/membercard"
)

// BatchSize is SQS's most messages in one SendMessageBatch, and the
// most the event source mapping hands one consumer invocation.
const BatchSize = 10

// Message is the body of one queued brand: {"brand_id":"..."}.
type Message struct {
	BrandID string `json:"brand_id"`
}

// maxBrandID is the longest brand ID accepted, as the GET route's.
const maxBrandID = 32

// Body is the message's JSON body.
func (m Message) Body() string {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // a string only: cannot fail
	}
	return string(b)
}

// ParseMessage reads a message body strictly: one JSON object with exactly
// the key brand_id, holding a well-formed brand ID.
func ParseMessage(body string) (Message, error) {
	// A map, not the struct: encoding/json would match BRAND_ID too.
	var fields map[string]json.RawMessage
	var m Message
	if json.Unmarshal([]byte(body), &fields) != nil || len(fields) != 1 || json.Unmarshal(fields["brand_id"], &m.BrandID) != nil {
		return Message{}, errors.New(`message body is not {"brand_id": "..."}`)
	}
	if err := membercard.CheckID("brand_id", m.BrandID, maxBrandID); err != nil {
		return Message{}, fmt.Errorf("message body: %w", err)
	}
	return m, nil
}
