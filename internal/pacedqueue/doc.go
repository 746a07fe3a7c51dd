// Package pacedqueue is the generic part of a Lambda function that an SQS
// event source mapping invokes with batches of messages, each of which
// costs calls to a rate-limited API (WeChat Pay): the Consumer hands each
// message to a Handler, which does the message's own work; it reports the
// messages to deliver again as partial batch failures, deletes the
// malformed ones, and sends back as new messages those it had no time for.
// A Pacer spaces the calls so that all the mapping's concurrent invocations
// together stay under the rate (Interval, PacerFromEnv).
//
// The authorities refresh (package refresh, functions/authoritiesrefresh)
// and the member queue's consumer (functions/members) each supply a
// Handler and their names for logs and metrics. The SQS calls, the
// consumer's Requeue among them, are in package sqsqueue, so that what
// does not send to SQS does not link its client.
package pacedqueue
