package awstest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The account and region the fakes pretend to be in.
const fakeAccount = "123456789012"

func init() {
	fakeBackend = func(t testing.TB) string {
		t.Helper()
		f := NewFake()
		t.Cleanup(f.Close)
		return f.URL
	}
}

// Fake is an in-process DynamoDB, EventBridge and SQS behind one endpoint,
// speaking the wire protocols the aws-sdk-go-v2 clients speak (JSON 1.0
// for DynamoDB and SQS, JSON 1.1 for EventBridge), enough of them for
// wxcard's functions and tests. It dispatches on X-Amz-Target.
type Fake struct {
	URL string

	srv *httptest.Server
	db  *fakeDB
	eb  *fakeEvents
	sqs *fakeSQS
}

// NewFake starts a Fake; Close stops it.
func NewFake() *Fake {
	f := &Fake{db: newFakeDB(), sqs: newFakeSQS()}
	f.eb = newFakeEvents(f.sqs)
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	return f
}

// Close stops the server and wakes every waiting ReceiveMessage.
func (f *Fake) Close() {
	f.sqs.close()
	f.srv.Close()
}

// apiError is an error answer of the JSON protocols.
type apiError struct {
	status int
	typ    string // the __type, with its namespace
	msg    string
	query  string // SQS's x-amzn-query-error code, for its query-compatible clients
	extra  map[string]any
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

const dynamoNS = "com.amazonaws.dynamodb.v20120810#"

func validation(format string, args ...any) *apiError {
	return &apiError{status: 400, typ: dynamoNS + "ValidationException", msg: fmt.Sprintf(format, args...)}
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	contentType := "application/x-amz-json-1.0"
	if strings.HasPrefix(target, "AWSEvents.") {
		contentType = "application/x-amz-json-1.1"
	}
	w.Header().Set("Content-Type", contentType)
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeAPIError(w, &apiError{status: 400, typ: "MissingAuthenticationTokenException", msg: "Missing Authentication Token"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		writeAPIError(w, &apiError{status: 400, typ: "SerializationException", msg: "reading the body: " + err.Error()})
		return
	}
	service, op, _ := strings.Cut(target, ".")
	var out any
	var aerr *apiError
	switch service {
	case "DynamoDB_20120810":
		out, aerr = f.db.call(op, body)
	case "AWSEvents":
		out, aerr = f.eb.call(op, body)
	case "AmazonSQS":
		out, aerr = f.sqs.call(r.Context(), op, body)
	default:
		aerr = &apiError{status: 400, typ: "UnknownOperationException", msg: "unknown target " + target}
	}
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	_ = json.NewEncoder(w).Encode(out)
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	if e.query != "" {
		w.Header().Set("X-Amzn-Query-Error", e.query+";Sender")
	}
	w.WriteHeader(e.status)
	m := map[string]any{"__type": e.typ, "message": e.msg}
	for k, v := range e.extra {
		m[k] = v
	}
	_ = json.NewEncoder(w).Encode(m)
}

// decode reads a request body into v, answering SerializationException.
func decode(body []byte, v any) *apiError {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &apiError{status: 400, typ: "SerializationException", msg: err.Error()}
	}
	return nil
}

// newID is a random identifier in the form of a UUID.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
