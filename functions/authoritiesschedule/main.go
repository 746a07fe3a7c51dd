// Command authoritiesschedule starts each scheduled refresh of product
// authorities: invoked by the schedule (an EventBridge Scheduled Event, or
// {}), it sends one message per brand covered (AUTHORITY_BRAND_IDS and
// every brand with a snapshot in STATE_TABLE_NAME) to the refresh queue
// (REFRESH_QUEUE_URL), which authoritiesrefresh consumes. Operators invoke
// it with {"brand_ids": [...]} to add brands and {"remove_brand_ids":
// [...]} to remove them (docs/refresh.md). It holds no WeChat
// Pay credentials.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcard/wxcard/internal/authority/authtable"
	"github.com/wxcard/wxcard/internal/lambdainit"
	"github.com/wxcard/wxcard/internal/refresh"
	"github.com/wxcard/wxcard/internal/refresh/queue"
	"github.com/wxcard/wxcard/internal/statetable"
)

func main() {
	// It holds no WeChat Pay credentials, so it boots with the common cold
	// start alone and links no Secrets Manager client.
	fn := lambdainit.New("authoritiesschedule")
	listed, err := lambdainit.IDList("AUTHORITY_BRAND_IDS", os.Getenv("AUTHORITY_BRAND_IDS"), 32)
	if err != nil {
		fn.Refuse(err)
	}
	table, err := statetable.FromEnv(os.Getenv)
	if err != nil {
		fn.Refuse(err)
	}
	queue, err := queue.FromEnv(os.Getenv)
	if err != nil {
		fn.Refuse(err)
	}
	h := &refresh.Scheduler{Queue: queue, Snapshots: authtable.Table{Table: table}, Listed: listed, Logger: fn.Logger, Metrics: fn.Metrics}
	lambda.Start(h.Handle)
}
