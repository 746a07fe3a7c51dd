package awstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// fakeEvents is the EventBridge of a Fake: buses, rules with exact-match
// event patterns, and SQS targets delivered to synchronously.
type fakeEvents struct {
	sqs *fakeSQS
	now func() time.Time

	mu    sync.Mutex
	buses map[string]*fakeBus
}

type fakeBus struct {
	rules map[string]*fakeRule
}

type fakeRule struct {
	pattern map[string]any
	enabled bool
	targets map[string]string // id to ARN
}

func newFakeEvents(q *fakeSQS) *fakeEvents {
	return &fakeEvents{sqs: q, now: time.Now, buses: map[string]*fakeBus{"default": {rules: map[string]*fakeRule{}}}}
}

const eventsNS = "com.amazonaws.events#"

func eventsError(code, format string, args ...any) *apiError {
	return &apiError{status: 400, typ: eventsNS + code, msg: fmt.Sprintf(format, args...)}
}

func busARN(name string) string {
	return "arn:aws:events:" + Region + ":" + fakeAccount + ":event-bus/" + name
}

// bus finds a bus by name or ARN; e.mu is held.
func (e *fakeEvents) bus(name string) (*fakeBus, string, *apiError) {
	if name == "" {
		name = "default"
	}
	name = strings.TrimPrefix(name, "arn:aws:events:"+Region+":"+fakeAccount+":event-bus/")
	b, ok := e.buses[name]
	if !ok {
		return nil, name, eventsError("ResourceNotFoundException", "Event bus %s does not exist.", name)
	}
	return b, name, nil
}

func (e *fakeEvents) call(op string, body []byte) (any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch op {
	case "CreateEventBus":
		var in struct{ Name string }
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if in.Name == "" || strings.ContainsAny(in.Name, "/ ") || len(in.Name) > 256 {
			return nil, eventsError("ValidationException", "Event bus name %q is not valid.", in.Name)
		}
		if _, ok := e.buses[in.Name]; ok {
			return nil, eventsError("ResourceAlreadyExistsException", "Event bus %s already exists.", in.Name)
		}
		e.buses[in.Name] = &fakeBus{rules: map[string]*fakeRule{}}
		return map[string]string{"EventBusArn": busARN(in.Name)}, nil
	case "PutRule":
		var in struct {
			Name, EventBusName, EventPattern, State string
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		b, bus, err := e.bus(in.EventBusName)
		if err != nil {
			return nil, err
		}
		if in.Name == "" {
			return nil, eventsError("ValidationException", "Rule name must not be empty.")
		}
		pattern, perr := parsePattern(in.EventPattern)
		if perr != nil {
			return nil, eventsError("InvalidEventPatternException", "Event pattern is not valid. Reason: %v", perr)
		}
		r, ok := b.rules[in.Name]
		if !ok {
			r = &fakeRule{targets: map[string]string{}}
			b.rules[in.Name] = r
		}
		r.pattern, r.enabled = pattern, in.State != "DISABLED"
		return map[string]string{"RuleArn": "arn:aws:events:" + Region + ":" + fakeAccount + ":rule/" + bus + "/" + in.Name}, nil
	case "PutTargets":
		var in struct {
			Rule, EventBusName string
			Targets            []struct{ ID, Arn string }
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		b, bus, err := e.bus(in.EventBusName)
		if err != nil {
			return nil, err
		}
		r, ok := b.rules[in.Rule]
		if !ok {
			return nil, eventsError("ResourceNotFoundException", "Rule %s does not exist on EventBus %s.", in.Rule, bus)
		}
		if len(in.Targets) == 0 || len(in.Targets) > 10 {
			return nil, eventsError("ValidationException", "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length between 1 and 10")
		}
		type failed struct{ TargetID, ErrorCode, ErrorMessage string }
		var fails []failed
		for _, t := range in.Targets {
			if t.ID == "" || !strings.HasPrefix(t.Arn, "arn:aws:sqs:") {
				fails = append(fails, failed{t.ID, "ValidationException", "the fake delivers only to SQS queue ARNs"})
				continue
			}
			r.targets[t.ID] = t.Arn
		}
		return map[string]any{"FailedEntryCount": len(fails), "FailedEntries": fails}, nil
	case "PutEvents":
		return e.putEvents(body)
	}
	return nil, eventsError("UnknownOperationException", "the fake does not support %s", op)
}

// parsePattern reads an event pattern of exact-match lists: every leaf
// is an array of strings, numbers, booleans or nulls; objects nest.
func parsePattern(s string) (map[string]any, error) {
	var p map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&p); err != nil || p == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	var check func(map[string]any) error
	check = func(m map[string]any) error {
		for k, v := range m {
			switch v := v.(type) {
			case map[string]any:
				if err := check(v); err != nil {
					return err
				}
			case []any:
				if len(v) == 0 {
					return fmt.Errorf("empty arrays are not allowed (key %s)", k)
				}
				for _, x := range v {
					switch x.(type) {
					case string, json.Number, bool, nil:
					default:
						return fmt.Errorf("the fake supports exact matching only (key %s)", k)
					}
				}
			default:
				return fmt.Errorf("match value must be put inside a JSON array (key %s)", k)
			}
		}
		return nil
	}
	return p, check(p)
}

// matches says whether an event (as delivered) matches a pattern.
func matches(pattern, event map[string]any) bool {
	for k, want := range pattern {
		got, ok := event[k]
		switch want := want.(type) {
		case map[string]any:
			sub, isMap := got.(map[string]any)
			if !ok || !isMap || !matches(want, sub) {
				return false
			}
		case []any:
			if !ok || !anyEqual(want, got) {
				return false
			}
		}
	}
	return true
}

// anyEqual says whether got, or an element of got when it is an array,
// equals one of the pattern's values.
func anyEqual(values []any, got any) bool {
	candidates := []any{got}
	if arr, ok := got.([]any); ok {
		candidates = arr
	}
	for _, c := range candidates {
		for _, v := range values {
			if leafEqual(v, c) {
				return true
			}
		}
	}
	return false
}

func leafEqual(a, b any) bool {
	an, aok := a.(json.Number)
	bn, bok := b.(json.Number)
	if aok && bok {
		x, err1 := an.Float64()
		y, err2 := bn.Float64()
		return err1 == nil && err2 == nil && x == y
	}
	return a == b
}

type putEntry struct {
	Source, DetailType, Detail, EventBusName string
	Time                                     *float64
	Resources                                []string
}

type entryResult struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:",omitempty"`
	ErrorMessage string `json:",omitempty"`
}

func (e *fakeEvents) putEvents(body []byte) (any, *apiError) {
	var in struct{ Entries []putEntry }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		return nil, eventsError("ValidationException", "1 validation error detected: Value '%d' at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1", len(in.Entries))
	}
	out := make([]entryResult, len(in.Entries))
	failed := 0
	for i, en := range in.Entries {
		res := e.putEvent(en)
		if res.ErrorCode != "" {
			failed++
		}
		out[i] = res
	}
	return map[string]any{"FailedEntryCount": failed, "Entries": out}, nil
}

func (e *fakeEvents) putEvent(en putEntry) entryResult {
	invalid := func(field, reason string) entryResult {
		return entryResult{ErrorCode: "InvalidArgument", ErrorMessage: "Parameter " + field + " is not valid. Reason: " + reason}
	}
	switch {
	case en.Source == "":
		return invalid("Source", "Source is a required argument.")
	case en.DetailType == "":
		return invalid("DetailType", "DetailType is a required argument.")
	case en.Detail == "":
		return invalid("Detail", "Detail is a required argument.")
	}
	d := json.NewDecoder(strings.NewReader(en.Detail))
	d.UseNumber()
	var detail map[string]any
	if err := d.Decode(&detail); err != nil || detail == nil || d.More() {
		return entryResult{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."}
	}
	b, bus, aerr := e.bus(en.EventBusName)
	if aerr != nil {
		return entryResult{ErrorCode: "NotFoundException", ErrorMessage: "Event bus " + bus + " does not exist."}
	}
	at := e.now()
	if en.Time != nil {
		sec, frac := math.Modf(*en.Time)
		at = time.Unix(int64(sec), int64(frac*1e9))
	}
	resources := en.Resources
	if resources == nil {
		resources = []string{}
	}
	id := newID()
	event := map[string]any{
		"version": "0", "id": id, "detail-type": en.DetailType, "source": en.Source, "account": fakeAccount,
		"time": at.UTC().Format("2006-01-02T15:04:05Z"), "region": Region, "resources": resources,
		"detail": json.RawMessage(en.Detail),
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(event)
	msg := strings.TrimSuffix(buf.String(), "\n")
	// Match against the event as a target would see it.
	var asSeen map[string]any
	dec := json.NewDecoder(strings.NewReader(msg))
	dec.UseNumber()
	_ = dec.Decode(&asSeen)
	for _, r := range b.rules {
		if !r.enabled || !matches(r.pattern, asSeen) {
			continue
		}
		for _, arn := range r.targets {
			e.sqs.deliver(arn, msg)
		}
	}
	return entryResult{EventID: id}
}

// deliver enqueues body on the queue an ARN names, if it exists.
func (s *fakeSQS) deliver(arn, body string) {
	name := arn[strings.LastIndex(arn, ":")+1:]
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.queues[name]; ok {
		s.enqueue(q, body, q.delay)
	}
}
