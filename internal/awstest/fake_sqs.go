package awstest

import (
	"context"
	"crypto/md5" //nolint:gosec // SQS's wire protocol checksums bodies with MD5
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fakeSQS is the SQS of a Fake: standard queues, in memory.
type fakeSQS struct {
	mu      sync.Mutex
	queues  map[string]*fakeQueue // by name
	changed chan struct{}         // closed and replaced when any queue changes
	closed  chan struct{}
	now     func() time.Time
	onWait  func() // when set, called (s.mu held) as a receive starts to wait: for tests
}

type fakeQueue struct {
	name       string
	attrs      map[string]string
	msgs       []*fakeMessage // in send order
	seq        int
	visibility time.Duration
	delay      time.Duration
	wait       time.Duration
}

type fakeMessage struct {
	id, body, md5 string
	sent          time.Time
	visibleAt     time.Time // not before then
	handle        string    // of the latest receive
	received      int
	firstRecv     time.Time
}

func newFakeSQS() *fakeSQS {
	return &fakeSQS{queues: map[string]*fakeQueue{}, changed: make(chan struct{}), closed: make(chan struct{}), now: time.Now}
}

func (s *fakeSQS) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
}

// notify wakes the waiting receivers; s.mu is held.
func (s *fakeSQS) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func sqsError(code, query, format string, args ...any) *apiError {
	return &apiError{status: 400, typ: "com.amazonaws.sqs#" + code, query: query, msg: fmt.Sprintf(format, args...)}
}

func sqsInvalid(format string, args ...any) *apiError {
	return sqsError("InvalidParameterValueException", "InvalidParameterValue", format, args...)
}

var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func queueURL(name string) string {
	return "http://sqs.us-east-1.localhost/" + fakeAccount + "/" + name
}

// queue finds a queue by its URL (only its last path element counts, as
// the client may reach the fake through any address); s.mu is held.
func (s *fakeSQS) queue(u string) (*fakeQueue, *apiError) {
	if u == "" {
		return nil, sqsError("MissingParameter", "MissingParameter", "The request must contain the parameter QueueUrl.")
	}
	name := u[strings.LastIndex(u, "/")+1:]
	q, ok := s.queues[name]
	if !ok {
		return nil, sqsError("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
	}
	return q, nil
}

func (s *fakeSQS) call(ctx context.Context, op string, body []byte) (any, *apiError) {
	switch op {
	case "CreateQueue":
		return s.createQueue(body)
	case "GetQueueUrl":
		var in struct{ QueueName string }
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.queues[in.QueueName]; !ok {
			return nil, sqsError("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
		}
		return map[string]string{"QueueUrl": queueURL(in.QueueName)}, nil
	case "GetQueueAttributes":
		return s.getQueueAttributes(body)
	case "SendMessage":
		var in sendEntry
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		q, err := s.queue(in.QueueURL)
		if err != nil {
			return nil, err
		}
		return s.send(q, in)
	case "SendMessageBatch":
		return s.sendBatch(body)
	case "ReceiveMessage":
		return s.receive(ctx, body)
	case "DeleteMessage":
		var in struct {
			QueueURL      string `json:"QueueUrl"`
			ReceiptHandle string
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		q, err := s.queue(in.QueueURL)
		if err != nil {
			return nil, err
		}
		return nil, q.delete(in.ReceiptHandle)
	case "DeleteMessageBatch":
		return s.deleteBatch(body)
	case "ChangeMessageVisibility":
		var in struct {
			QueueURL          string `json:"QueueUrl"`
			ReceiptHandle     string
			VisibilityTimeout *int
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		q, err := s.queue(in.QueueURL)
		if err != nil {
			return nil, err
		}
		if in.VisibilityTimeout == nil || *in.VisibilityTimeout < 0 || *in.VisibilityTimeout > 43200 {
			return nil, sqsInvalid("Value for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.")
		}
		m := q.byHandle(in.ReceiptHandle)
		if m == nil {
			return nil, sqsError("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
		}
		if !m.visibleAt.After(s.now()) {
			return nil, sqsError("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", "The message referred to is not in flight.")
		}
		m.visibleAt = s.now().Add(time.Duration(*in.VisibilityTimeout) * time.Second)
		s.notify()
		return nil, nil
	}
	return nil, &apiError{status: 400, typ: "com.amazonaws.sqs#UnsupportedOperation", query: "AWS.SimpleQueueService.UnsupportedOperation", msg: "the fake does not support " + op}
}

func (s *fakeSQS) createQueue(body []byte) (any, *apiError) {
	var in struct {
		QueueName  string
		Attributes map[string]string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if !queueNameRE.MatchString(in.QueueName) {
		return nil, sqsInvalid("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	attrs := map[string]string{"VisibilityTimeout": "30", "DelaySeconds": "0", "ReceiveMessageWaitTimeSeconds": "0",
		"MaximumMessageSize": "262144", "MessageRetentionPeriod": "345600"}
	limits := map[string][2]int{"VisibilityTimeout": {0, 43200}, "DelaySeconds": {0, 900}, "ReceiveMessageWaitTimeSeconds": {0, 20},
		"MaximumMessageSize": {1024, 262144}, "MessageRetentionPeriod": {60, 1209600}}
	for k, v := range in.Attributes {
		lim, ok := limits[k]
		if !ok {
			continue // accepted and kept, but without effect in the fake
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lim[0] || n > lim[1] {
			return nil, sqsError("InvalidAttributeValue", "InvalidAttributeValue", "Invalid value for the parameter %s.", k)
		}
		attrs[k] = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.queues[in.QueueName]; ok {
		for k, v := range in.Attributes {
			if q.attrs[k] != v {
				return nil, sqsError("QueueNameExists", "QueueAlreadyExists", "A queue already exists with the same name and a different value for attribute %s", k)
			}
		}
		return map[string]string{"QueueUrl": queueURL(in.QueueName)}, nil
	}
	sec := func(k string) time.Duration { n, _ := strconv.Atoi(attrs[k]); return time.Duration(n) * time.Second }
	s.queues[in.QueueName] = &fakeQueue{name: in.QueueName, attrs: attrs,
		visibility: sec("VisibilityTimeout"), delay: sec("DelaySeconds"), wait: sec("ReceiveMessageWaitTimeSeconds")}
	return map[string]string{"QueueUrl": queueURL(in.QueueName)}, nil
}

func (s *fakeSQS) getQueueAttributes(body []byte) (any, *apiError) {
	var in struct {
		QueueURL       string `json:"QueueUrl"`
		AttributeNames []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(in.QueueURL)
	if err != nil {
		return nil, err
	}
	now := s.now()
	all := map[string]string{"QueueArn": "arn:aws:sqs:" + Region + ":" + fakeAccount + ":" + q.name}
	for k, v := range q.attrs {
		all[k] = v
	}
	var visible, inflight, delayed int
	for _, m := range q.msgs {
		switch {
		case !m.visibleAt.After(now):
			visible++
		case m.received > 0:
			inflight++
		default:
			delayed++
		}
	}
	all["ApproximateNumberOfMessages"] = strconv.Itoa(visible)
	all["ApproximateNumberOfMessagesNotVisible"] = strconv.Itoa(inflight)
	all["ApproximateNumberOfMessagesDelayed"] = strconv.Itoa(delayed)
	out := map[string]string{}
	for _, name := range in.AttributeNames {
		if name == "All" {
			out = all
			break
		}
		v, ok := all[name]
		if !ok {
			return nil, sqsError("InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute %s.", name)
		}
		out[name] = v
	}
	if len(out) == 0 {
		return struct{}{}, nil
	}
	return map[string]any{"Attributes": out}, nil
}

type sendEntry struct {
	QueueURL     string `json:"QueueUrl"`
	ID           string `json:"Id"`
	MessageBody  *string
	DelaySeconds *int
}

// send enqueues one message; s.mu is held.
func (s *fakeSQS) send(q *fakeQueue, in sendEntry) (map[string]string, *apiError) {
	if in.MessageBody == nil || *in.MessageBody == "" {
		return nil, sqsError("MissingParameter", "MissingParameter", "The request must contain the parameter MessageBody.")
	}
	if len(*in.MessageBody) > 262144 {
		return nil, sqsInvalid("One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.")
	}
	delay := q.delay
	if in.DelaySeconds != nil {
		if *in.DelaySeconds < 0 || *in.DelaySeconds > 900 {
			return nil, sqsInvalid("Value %d for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided.", *in.DelaySeconds)
		}
		delay = time.Duration(*in.DelaySeconds) * time.Second
	}
	s.enqueue(q, *in.MessageBody, delay)
	m := q.msgs[len(q.msgs)-1]
	return map[string]string{"MessageId": m.id, "MD5OfMessageBody": m.md5}, nil
}

// enqueue adds a message; s.mu is held.
func (s *fakeSQS) enqueue(q *fakeQueue, body string, delay time.Duration) {
	sum := md5.Sum([]byte(body)) //nolint:gosec // the protocol's checksum
	now := s.now()
	q.msgs = append(q.msgs, &fakeMessage{id: newID(), body: body, md5: hex.EncodeToString(sum[:]), sent: now, visibleAt: now.Add(delay)})
	s.notify()
}

var batchIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// checkBatch checks a batch's entry ids as SQS does.
func checkBatch(ids []string) *apiError {
	if len(ids) == 0 {
		return sqsError("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", "There should be at least one SendMessageBatchRequestEntry in the request.")
	}
	if len(ids) > 10 {
		return sqsError("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "Maximum number of entries per request are 10. You have sent %d.", len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !batchIDRE.MatchString(id) {
			return sqsError("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[id] {
			return sqsError("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id %s repeated.", id)
		}
		seen[id] = true
	}
	return nil
}

type batchFailure struct {
	ID          string `json:"Id"`
	Code        string
	Message     string
	SenderFault bool
}

func (s *fakeSQS) sendBatch(body []byte) (any, *apiError) {
	var in struct {
		QueueURL string `json:"QueueUrl"`
		Entries  []sendEntry
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(in.QueueURL)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	total := 0
	for i, e := range in.Entries {
		ids[i] = e.ID
		if e.MessageBody != nil {
			total += len(*e.MessageBody)
		}
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	if total > 262144 {
		return nil, sqsError("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", "Batch requests cannot be longer than 262144 bytes. You have sent %d bytes.", total)
	}
	ok := []map[string]string{}
	failed := []batchFailure{}
	for _, e := range in.Entries {
		res, err := s.send(q, e)
		if err != nil {
			code := err.query
			if code == "" {
				code = err.typ
			}
			failed = append(failed, batchFailure{ID: e.ID, Code: code, Message: err.msg, SenderFault: true})
			continue
		}
		res["Id"] = e.ID
		ok = append(ok, res)
	}
	return map[string]any{"Successful": ok, "Failed": failed}, nil
}

type sqsMessage struct {
	MessageID     string `json:"MessageId"`
	ReceiptHandle string
	MD5OfBody     string
	Body          string
	Attributes    map[string]string `json:",omitempty"`
}

func (s *fakeSQS) receive(ctx context.Context, body []byte) (any, *apiError) {
	var in struct {
		QueueURL                    string `json:"QueueUrl"`
		MaxNumberOfMessages         *int
		VisibilityTimeout           *int
		WaitTimeSeconds             *int
		AttributeNames              []string
		MessageSystemAttributeNames []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	max := 1
	if in.MaxNumberOfMessages != nil {
		max = *in.MaxNumberOfMessages
		if max < 1 || max > 10 {
			return nil, sqsInvalid("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", max)
		}
	}
	if in.WaitTimeSeconds != nil && (*in.WaitTimeSeconds < 0 || *in.WaitTimeSeconds > 20) {
		return nil, sqsInvalid("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", *in.WaitTimeSeconds)
	}
	if in.VisibilityTimeout != nil && (*in.VisibilityTimeout < 0 || *in.VisibilityTimeout > 43200) {
		return nil, sqsInvalid("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.", *in.VisibilityTimeout)
	}
	wantAttrs := map[string]bool{}
	for _, a := range append(in.AttributeNames, in.MessageSystemAttributeNames...) {
		wantAttrs[a] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(in.QueueURL)
	if err != nil {
		return nil, err
	}
	wait := q.wait
	if in.WaitTimeSeconds != nil {
		wait = time.Duration(*in.WaitTimeSeconds) * time.Second
	}
	visibility := q.visibility
	if in.VisibilityTimeout != nil {
		visibility = time.Duration(*in.VisibilityTimeout) * time.Second
	}
	deadline := s.now().Add(wait)
	for {
		now := s.now()
		var got []sqsMessage
		next := deadline // the earliest time something may change by itself
		for _, m := range q.msgs {
			if m.visibleAt.After(now) {
				if m.visibleAt.Before(next) {
					next = m.visibleAt
				}
				continue
			}
			if len(got) == max {
				break
			}
			m.received++
			if m.received == 1 {
				m.firstRecv = now
			}
			m.visibleAt = now.Add(visibility)
			q.seq++
			m.handle = fmt.Sprintf("%s#%d#%s", q.name, q.seq, m.id)
			sm := sqsMessage{MessageID: m.id, ReceiptHandle: m.handle, MD5OfBody: m.md5, Body: m.body}
			if len(wantAttrs) > 0 {
				sm.Attributes = m.attributes(wantAttrs)
			}
			got = append(got, sm)
		}
		if len(got) > 0 {
			return map[string]any{"Messages": got}, nil
		}
		if !now.Before(deadline) {
			return struct{}{}, nil
		}
		// Wait for a send, a visibility change, the next message to
		// become visible, the deadline, the caller or the server to go.
		changed := s.changed
		if s.onWait != nil {
			s.onWait()
		}
		timer := time.NewTimer(next.Sub(now))
		s.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
		case <-s.closed:
		}
		timer.Stop()
		s.mu.Lock()
		if ctx.Err() != nil {
			return struct{}{}, nil
		}
		select {
		case <-s.closed:
			return struct{}{}, nil
		default:
		}
	}
}

func (m *fakeMessage) attributes(want map[string]bool) map[string]string {
	all := map[string]string{
		"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
		"ApproximateReceiveCount":          strconv.Itoa(m.received),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstRecv.UnixMilli(), 10),
		"SenderId":                         "AIDAFAKE",
	}
	out := map[string]string{}
	for k, v := range all {
		if want["All"] || want[k] {
			out[k] = v
		}
	}
	return out
}

// byHandle finds the message a receipt handle names; nil if it names
// none (or not this queue's).
func (q *fakeQueue) byHandle(h string) *fakeMessage {
	parts := strings.Split(h, "#")
	if len(parts) != 3 || parts[0] != q.name {
		return nil
	}
	for _, m := range q.msgs {
		if m.id == parts[2] {
			return m
		}
	}
	return nil
}

// delete removes the message a handle names. A well-formed handle of a
// message already gone succeeds, as in SQS.
func (q *fakeQueue) delete(h string) *apiError {
	parts := strings.Split(h, "#")
	if len(parts) != 3 || parts[0] != q.name {
		return sqsError("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", "The input receipt handle %q is not a valid receipt handle.", h)
	}
	for i, m := range q.msgs {
		if m.id == parts[2] {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			break
		}
	}
	return nil
}

func (s *fakeSQS) deleteBatch(body []byte) (any, *apiError) {
	var in struct {
		QueueURL string `json:"QueueUrl"`
		Entries  []struct {
			ID            string `json:"Id"`
			ReceiptHandle string
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(in.QueueURL)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.ID
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	ok := []map[string]string{}
	failed := []batchFailure{}
	for _, e := range in.Entries {
		if err := q.delete(e.ReceiptHandle); err != nil {
			failed = append(failed, batchFailure{ID: e.ID, Code: err.query, Message: err.msg, SenderFault: true})
			continue
		}
		ok = append(ok, map[string]string{"Id": e.ID})
	}
	return map[string]any{"Successful": ok, "Failed": failed}, nil
}
