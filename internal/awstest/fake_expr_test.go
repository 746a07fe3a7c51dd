package awstest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testItem is {pk:"a", n:2, s:"hello", ss:{p,q}, l:[1,"two"], m:{k:"v"}, b:true}.
func testItem(t testing.TB) item {
	var it item
	require.NoError(t, json.Unmarshal([]byte(`{"pk":{"S":"a"},"n":{"N":"2"},"s":{"S":"hello"},"ss":{"SS":["p","q"]},
		"l":{"L":[{"N":"1"},{"S":"two"}]},"m":{"M":{"k":{"S":"v"}}},"b":{"BOOL":true}}`), &it))
	return it
}

func testValues(t testing.TB) item {
	var v item
	require.NoError(t, json.Unmarshal([]byte(`{":two":{"N":"2.00"},":ten":{"N":"1e1"},":he":{"S":"he"},":s":{"S":"hello"},
		":p":{"S":"p"},":one":{"N":"1"},":t":{"BOOL":true},":ss":{"SS":["x","y"]},":type":{"S":"SS"}}`), &v))
	return v
}

func TestConditionEval(t *testing.T) {
	it := testItem(t)
	names := map[string]string{"#n": "n", "#k": "k", "#pk": "pk"}
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{"n = :two", true},
		{"#n < :ten", true},
		{"n > :ten", false}, // numeric, not "2" > "10"
		{"n <> :two", false},
		{"nope <> :two", true},
		{"nope = :two", false},
		{"nope < :two", false},
		{"s = :two", false}, // types differ
		{"s >= :he", true},
		{"s <= :he", false},
		{"b = :t", true},
		{"attribute_exists(#pk) AND attribute_not_exists(nope)", true},
		{"attribute_exists(m.#k) AND attribute_exists(l[1]) AND NOT attribute_exists(l[2])", true},
		{"begins_with(s, :he)", true},
		{"begins_with(nope, :he)", false},
		{"contains(ss, :p) AND contains(s, :he)", true},
		{"attribute_type(ss, :type)", true},
		{"size(ss) = :two AND size(s) > :one", true},
		{"n BETWEEN :one AND :two", true},
		{"n IN (:one, :ten)", false},
		{"s IN (:he, :s)", true},
		{"NOT n = :two OR s = :s", true},
		{"NOT (n = :two OR s = :s)", false},
		{"attribute_exists(nope) AND attribute_exists(nope) OR n = :two", true}, // AND before OR
		{"attribute_exists(nope) AND (attribute_exists(nope) OR n = :two)", false},
		{"((((n = :two))))", true},
		{"n = :two and s = :s", true}, // keywords in any case
	} {
		t.Run(tc.expr, func(t *testing.T) {
			env := newExprEnv(names, testValues(t))
			c, err := env.parseCondition(tc.expr)
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.eval(it))
		})
	}
}

func TestConditionErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"", "can not be empty"},
		{"n = ", "Syntax error"},
		{"n == :two", "Syntax error"},
		{"(n = :two", "Syntax error"},
		{"n = :two)", "Syntax error"},
		{"n = :nope", "attribute value used in expression is not defined; attribute value: :nope"},
		{"#nope = :two", "attribute name used in the document path is not defined; attribute name: #nope"},
		{"state = :two", "reserved keyword; reserved keyword: state"},
		{"n < :t", "operand type: BOOLEAN"},
		{"begins_with(s, :two)", "operand type: NUMBER"},
		{"n BETWEEN :ten AND :one", "upper bound to be greater than or equal to lower bound"},
		{"frobnicate(n)", "Invalid function name"},
		{"n = :two $", "Invalid character"},
		{"l[x] = :two", "Syntax error"},
		{strings.Repeat("(", 100) + "n = :two" + strings.Repeat(")", 100), "too many levels"},
		{strings.Repeat("NOT ", 100) + "n = :two", "too many levels"},
		{"n = :two" + strings.Repeat(" ", maxExprLen), "maximum allowed size"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := newExprEnv(map[string]string{"#n": "n"}, testValues(t)).parseCondition(tc.expr)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestUnusedNamesAndValues(t *testing.T) {
	env := newExprEnv(map[string]string{"#n": "n", "#x": "x"}, item{":one": {t: "N", s: "1"}})
	_, err := env.parseCondition("#n = :one")
	require.NoError(t, err)
	require.EqualError(t, env.unused(), "Value provided in ExpressionAttributeNames unused in expressions: keys: {#x}")
}

func TestUpdateApply(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"SET n = n + :one", `"n":{"N":"3"}`},
		{"SET n = n - :ten", `"n":{"N":"-8"}`},
		{"SET c = if_not_exists(c, :one), n = if_not_exists(n, :ten)", `"c":{"N":"1"}`},
		{"SET l = list_append(l, l)", `"l":{"L":[{"N":"1"},{"S":"two"},{"N":"1"},{"S":"two"}]}`},
		{"SET m.k2 = :p", `"m":{"M":{"k":{"S":"v"},"k2":{"S":"p"}}}`},
		{"SET l[0] = :p", `"l":{"L":[{"S":"p"},{"S":"two"}]}`},
		{"SET l[9] = :p", `"l":{"L":[{"N":"1"},{"S":"two"},{"S":"p"}]}`},
		{"REMOVE l[0], m.k", `"l":{"L":[{"S":"two"}]},"m":{"M":{}}`},
		{"ADD n :ten, ss :ss", `"n":{"N":"12"}`},
		{"ADD newn :one", `"newn":{"N":"1"}`},
		{"DELETE ss :ss", `"ss":{"SS":["p","q"]}`},
		{"set n = :one remove s", `"n":{"N":"1"}`},
		{"SET s = n, n = s", `"s":{"N":"2"}`},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			env := newExprEnv(nil, testValues(t))
			u, err := env.parseUpdate(tc.expr)
			require.NoError(t, err)
			got, err := u.apply(testItem(t))
			require.NoError(t, err)
			b, err := json.Marshal(got)
			require.NoError(t, err)
			assert.Contains(t, string(b), tc.want)
		})
	}
}

func TestUpdateErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"SET n = :one SET s = :one", "can only be used once"},
		{"SET n = :one, n = :two", "overlap"},
		{"SET m = :one REMOVE m.k", "overlap"},
		{"ADD s :s", "operand type: STRING"},
		{"DELETE ss :p", "operand type: STRING"},
		{"ADD m.k :one", "top-level"},
		{"UPSERT n = :one", "Syntax error"},
		{"SET n + :one", "Syntax error"},
		{"SET n = nope(:one)", "Invalid function name"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := newExprEnv(nil, testValues(t)).parseUpdate(tc.expr)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	for _, tc := range []struct{ expr, want string }{
		{"SET n = s + :one", "incorrect data type"},
		{"SET n = nope + :one", "does not exist in the item"},
		{"SET nope.x = :one", "document path provided in the update expression is invalid"},
		{"ADD s :one", "incorrect data type"},
		{"SET l = list_append(l, :one)", "incorrect data type"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			u, err := newExprEnv(nil, testValues(t)).parseUpdate(tc.expr)
			require.NoError(t, err)
			_, err = u.apply(testItem(t))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestAttrValidation(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"SS":[]}`, "may not be empty"},
		{`{"NS":["1","1.0"]}`, "contains duplicates"},
		{`{"N":"abc"}`, "cannot be converted into a number"},
		{`{"N":"1234567890123456789012345678901234567890"}`, "38 significant digits"},
		{`{"S":"a","N":"1"}`, "more than one datatypes"},
		{`{}`, "more than one datatypes"},
		{`{"NULL":false}`, "must have the value of true"},
		{`{"X":"1"}`, "unknown datatype"},
	} {
		var a attr
		err := json.Unmarshal([]byte(tc.in), &a)
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.want, tc.in)
	}
	for in, want := range map[string]string{"1e2": "100", "0010.500": "10.5", "-0": "0", "-1.25E-1": "-0.125"} {
		got, err := canonicalNumber(in)
		require.NoError(t, err)
		assert.Equal(t, want, got, in)
	}
}

// FuzzParseExpressions feeds client input to the expression parsers and
// evaluators: they must answer an error or a result, never panic or hang.
func FuzzParseExpressions(f *testing.F) {
	for _, s := range []string{
		"attribute_not_exists(#pk)", "#v = :v", "REMOVE #p, #pid, #ps SET #v = #v + :one", "SET #ps = :zero, #v = #v + :one",
		"NOT (a = :v OR b <> :v) AND begins_with(s, :v)", "SET l[3] = list_append(if_not_exists(l, :v), :v)",
		"ADD n :v DELETE ss :v", "n BETWEEN :v AND :v", "a IN (:v, :v)", "size(m.k[0].x) >= :v", "m.k, l[1], #pk",
	} {
		f.Add(s)
	}
	values := item{":v": {t: "N", s: "1"}}
	names := map[string]string{"#pk": "pk", "#v": "n", "#p": "l", "#pid": "s", "#ps": "m"}
	f.Fuzz(func(t *testing.T, s string) {
		it := testItem(t)
		if c, err := newExprEnv(names, values).parseCondition(s); err == nil {
			c.eval(it)
		}
		if u, err := newExprEnv(names, values).parseUpdate(s); err == nil {
			if out, err := u.apply(it); err == nil {
				_, err := json.Marshal(out)
				require.NoError(t, err)
			}
		}
		if p, err := newExprEnv(names, values).parseProjection(s); err == nil {
			project(it, p)
		}
	})
}

// A long poll returns as soon as a message arrives, not at its deadline,
// and a request without a SigV4 signature is refused.
func TestFakeLongPollAndAuth(t *testing.T) {
	f := NewFake()
	t.Cleanup(f.Close)
	ctx := context.Background()
	q := SQS(f.URL)
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("poll")})
	require.NoError(t, err)
	got := make(chan []string, 1)
	waiting := make(chan struct{}, 1)
	f.sqs.onWait = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	start := time.Now()
	go func() {
		r, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: out.QueueUrl, WaitTimeSeconds: 20})
		var bodies []string
		if err == nil {
			for _, m := range r.Messages {
				bodies = append(bodies, aws.ToString(m.Body))
			}
		}
		got <- bodies
	}()
	<-waiting // the receive is blocked on an empty queue
	_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String("hi")})
	require.NoError(t, err)
	assert.Equal(t, []string{"hi"}, <-got)
	assert.Less(t, time.Since(start), 20*time.Second, "the poll waited for its deadline")

	req, err := http.NewRequest(http.MethodPost, f.URL, strings.NewReader(`{}`))
	require.NoError(t, err)
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	var body map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Equal(t, "MissingAuthenticationTokenException", body["__type"])
}
