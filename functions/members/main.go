// Command members consumes the member queue: card openings and deletions,
// member changes to sync, SYNC_USER_POINT and AUTO_ACTIVATE notifications
// the bus's rule sends it (docs/card-events-and-members.md, "Members"). For each opening it
// records the member in the state table (STATE_TABLE_NAME), decides
// (MEMBER_CONFIRM_FUNCTION, or confirm every opening), confirms with
// WeChat Pay as the brand (WXPAY_BRAND_SECRET_ID) or the service provider
// (WXPAY_SECRET_ID), paced under MEMBER_CALLS_PER_SECOND per identity
// across MEMBER_CONCURRENCY invocations, and publishes the outcome to the
// bus (EVENT_BUS_NAME). It reports the messages to deliver again, sends
// back as new messages those it had no time for, parks the members WeChat
// Pay refused in the dead-letter queue (MEMBER_DEAD_LETTER_QUEUE_URL) for
// a redrive, and deletes malformed messages.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcard/wxcard/internal/eventbus/bridge"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/internal/member/lambdadecider"
	"github.com/wxcard/wxcard/internal/member/membertable"
	"github.com/wxcard/wxcard/internal/pacedqueue"
	"github.com/wxcard/wxcard/internal/pacedqueue/sqsqueue"
	"github.com/wxcard/wxcard/internal/statetable"
)

func main() {
	app := lambdaapp.MustBootEither("members")
	// The configuration first: a mistake there is named before any AWS call.
	decider, err := lambdadecider.FromEnv(os.Getenv)
	if err != nil {
		app.Refuse(err)
	}
	// WeChat Pay's limit is per brand and per service provider: each
	// identity has its own pace, every attempt counted.
	wechatpay := &member.WeChatPay{}
	var pacers []*pacedqueue.Pacer
	for _, up := range []struct {
		client *lambdaapp.Upstream
		dst    *member.Caller
	}{{app.Brand, &wechatpay.Brand}, {app.Upstream, &wechatpay.Partner}} {
		if up.client == nil {
			continue
		}
		pacer, err := member.PacerFromEnv(os.Getenv)
		if err != nil {
			app.Refuse(err)
		}
		up.client.SetPace(pacer.Wait)
		*up.dst = up.client
		pacers = append(pacers, pacer)
	}
	table, err := statetable.FromEnv(os.Getenv)
	if err != nil {
		app.Refuse(fmt.Errorf("state table: %w", err))
	}
	requeue, err := sqsqueue.RequeueFromEnv(os.Getenv)
	if err != nil {
		app.Refuse(err)
	}
	park, err := member.ParkFromEnv(os.Getenv)
	if err != nil {
		app.Refuse(err)
	}
	bus, err := bridge.FromEnvChecked(context.Background(), os.Getenv)
	if err != nil {
		app.Refuse(fmt.Errorf("event bus: %w", err))
	}
	keeper := &member.Keeper{Store: membertable.Table{Table: table}, Bus: bus, Decider: decider, WeChatPay: wechatpay, Updater: wechatpay, Logger: app.Logger}
	h := &pacedqueue.Consumer{
		Name: "member", Handler: &member.Queue{Keeper: keeper, Logger: app.Logger, Park: park}, Valid: member.Valid,
		MinTimeLeft: member.MinTimeLeft,
		Pacers:      pacers, Logger: app.Logger, Metrics: app.Metrics, Requeue: requeue, Labels: member.Labels, Counts: member.Counts,
	}
	lambda.Start(h.Handle)
}
