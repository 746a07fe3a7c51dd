package awstest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// fakeDB is the DynamoDB of a Fake: tables with a hash key and an
// optional range key, items in memory, the expression language of
// fake_expr.go. Like DynamoDB, TTL is recorded but expired items stay
// readable until deleted (DynamoDB removes them within days, not at once).
type fakeDB struct {
	mu     sync.Mutex
	tables map[string]*fakeTable
}

type fakeTable struct {
	name    string
	keys    []keyDef // hash, then range if any
	attrs   map[string]string
	items   map[string]item // by encoded key
	ttlAttr string
	created time.Time
}

type keyDef struct{ name, typ string }

func newFakeDB() *fakeDB { return &fakeDB{tables: map[string]*fakeTable{}} }

func notFound(table string) *apiError {
	return &apiError{status: 400, typ: dynamoNS + "ResourceNotFoundException", msg: "Requested resource not found: Table: " + table + " not found"}
}

// request is the union of the item operations' inputs.
type request struct {
	TableName                           string
	Key                                 item
	Item                                item
	ConditionExpression                 *string
	UpdateExpression                    *string
	ProjectionExpression                *string
	FilterExpression                    *string
	ExpressionAttributeNames            map[string]string
	ExpressionAttributeValues           map[string]json.RawMessage
	ReturnValues                        string
	ReturnValuesOnConditionCheckFailure string
	ExclusiveStartKey                   item
	Limit                               *int
	ConsistentRead                      *bool
}

func (db *fakeDB) call(op string, body []byte) (any, *apiError) {
	switch op {
	case "CreateTable":
		return db.createTable(body)
	case "DescribeTable", "DeleteTable", "UpdateTimeToLive", "DescribeTimeToLive":
		return db.tableOp(op, body)
	case "ListTables":
		db.mu.Lock()
		defer db.mu.Unlock()
		names := []string{}
		for n := range db.tables {
			names = append(names, n)
		}
		sort.Strings(names)
		return map[string]any{"TableNames": names}, nil
	case "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Scan":
	default:
		return nil, &apiError{status: 400, typ: dynamoNS + "UnknownOperationException", msg: "the fake does not support " + op}
	}
	var in request
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, validation("%v", err)
	}
	values := item{}
	for k, raw := range in.ExpressionAttributeValues {
		var v attr
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, validation("ExpressionAttributeValues contains invalid value: %v for key %s", err, k)
		}
		values[k] = v
	}
	if in.ExpressionAttributeNames != nil && len(in.ExpressionAttributeNames) == 0 {
		return nil, validation("ExpressionAttributeNames must not be empty")
	}
	if in.ExpressionAttributeValues != nil && len(values) == 0 {
		return nil, validation("ExpressionAttributeValues must not be empty")
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	t, ok := db.tables[in.TableName]
	if !ok {
		return nil, notFound(in.TableName)
	}
	env := newExprEnv(in.ExpressionAttributeNames, values)
	x, err := t.parse(op, env, &in)
	if err != nil {
		return nil, err
	}
	switch op {
	case "GetItem":
		return t.get(&in, x)
	case "Scan":
		return t.scan(&in, x)
	default:
		return t.write(op, &in, x)
	}
}

// parsed are a request's expressions.
type parsed struct {
	cond, filter *cond
	upd          *update
	proj         []docPath
}

// parse reads a request's expressions and checks what DynamoDB checks
// before it touches an item.
func (t *fakeTable) parse(op string, env *exprEnv, in *request) (parsed, *apiError) {
	var x parsed
	var err error
	legacy := func(what string) *apiError {
		return validation("Can not use both expression and non-expression parameters in the same request: %s", what)
	}
	_ = legacy
	if in.ConditionExpression != nil {
		if x.cond, err = env.parseCondition(*in.ConditionExpression); err != nil {
			return x, validation("Invalid ConditionExpression: %v", err)
		}
	}
	if in.FilterExpression != nil {
		if x.filter, err = env.parseCondition(*in.FilterExpression); err != nil {
			return x, validation("Invalid FilterExpression: %v", err)
		}
	}
	if in.UpdateExpression != nil {
		if x.upd, err = env.parseUpdate(*in.UpdateExpression); err != nil {
			return x, validation("Invalid UpdateExpression: %v", err)
		}
		for _, p := range x.upd.paths() {
			if t.isKey(p[0].name) {
				return x, validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", p[0].name)
			}
		}
	}
	if in.ProjectionExpression != nil {
		if x.proj, err = env.parseProjection(*in.ProjectionExpression); err != nil {
			return x, validation("Invalid ProjectionExpression: %v", err)
		}
	}
	if len(env.names) > 0 || len(env.values) > 0 {
		if err := env.unused(); err != nil {
			return x, validation("%v", err)
		}
	}
	switch in.ReturnValues {
	case "", "NONE":
	case "ALL_OLD":
		if op == "GetItem" || op == "Scan" {
			return x, validation("ReturnValues is not allowed here")
		}
	case "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW":
		if op != "UpdateItem" {
			return x, validation("ReturnValues can only be ALL_OLD or NONE")
		}
	default:
		return x, validation("1 validation error detected: Value '%s' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]", in.ReturnValues)
	}
	switch in.ReturnValuesOnConditionCheckFailure {
	case "", "NONE", "ALL_OLD":
	default:
		return x, validation("1 validation error detected: Value '%s' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]", in.ReturnValuesOnConditionCheckFailure)
	}
	return x, nil
}

func (t *fakeTable) isKey(name string) bool {
	for _, k := range t.keys {
		if k.name == name {
			return true
		}
	}
	return false
}

// keyOf checks a key (exactly the table's key attributes, of their
// types) and encodes it.
func (t *fakeTable) keyOf(key item, inItem bool) (string, *apiError) {
	if !inItem && len(key) != len(t.keys) {
		return "", validation("The provided key element does not match the schema")
	}
	var b strings.Builder
	for _, k := range t.keys {
		v, ok := key[k.name]
		if !ok {
			if inItem {
				return "", validation("One or more parameter values were invalid: Missing the key %s in the item", k.name)
			}
			return "", validation("The provided key element does not match the schema")
		}
		if v.t != k.typ {
			if inItem {
				return "", validation("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", k.name, k.typ, v.t)
			}
			return "", validation("The provided key element does not match the schema")
		}
		if v.s == "" {
			return "", validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty %s value. Key: %s",
				map[string]string{"S": "string", "B": "binary"}[v.t], k.name)
		}
		fmt.Fprintf(&b, "%d:%s|", len(v.s), v.s)
	}
	return b.String(), nil
}

func (t *fakeTable) keyItem(it item) item {
	k := item{}
	for _, d := range t.keys {
		k[d.name] = it[d.name].clone()
	}
	return k
}

func (t *fakeTable) get(in *request, x parsed) (any, *apiError) {
	k, err := t.keyOf(in.Key, false)
	if err != nil {
		return nil, err
	}
	it, ok := t.items[k]
	if !ok {
		return struct{}{}, nil
	}
	if x.proj != nil {
		return map[string]any{"Item": project(it, x.proj)}, nil
	}
	return map[string]any{"Item": it}, nil
}

func (t *fakeTable) write(op string, in *request, x parsed) (any, *apiError) {
	key := in.Key
	if op == "PutItem" {
		if in.Item == nil {
			return nil, validation("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null")
		}
		key = in.Item
	}
	k, err := t.keyOf(key, op == "PutItem")
	if err != nil {
		return nil, err
	}
	old, existed := t.items[k]
	if x.cond != nil && !x.cond.eval(old) {
		e := &apiError{status: 400, typ: dynamoNS + "ConditionalCheckFailedException", msg: "The conditional request failed"}
		if in.ReturnValuesOnConditionCheckFailure == "ALL_OLD" && existed {
			e.extra = map[string]any{"Item": old}
		}
		return nil, e
	}
	var next item
	switch op {
	case "PutItem":
		next = cloneItem(in.Item)
	case "DeleteItem":
		delete(t.items, k)
	case "UpdateItem":
		if x.upd == nil {
			return nil, validation("The fake needs an UpdateExpression (AttributeUpdates is not supported)")
		}
		base := old
		if !existed {
			base = t.keyItem(in.Key)
		}
		n, uerr := x.upd.apply(base)
		if uerr != nil {
			return nil, validation("%v", uerr)
		}
		next = n
	}
	if next != nil {
		if itemSize(next) > 400*1024 {
			return nil, validation("Item size has exceeded the maximum allowed size")
		}
		t.items[k] = next
	}
	var attrs item
	switch in.ReturnValues {
	case "ALL_OLD":
		if existed {
			attrs = old
		}
	case "ALL_NEW":
		attrs = next
	case "UPDATED_OLD":
		if existed {
			attrs = project(old, x.upd.paths())
		}
	case "UPDATED_NEW":
		attrs = project(next, x.upd.paths())
	}
	if len(attrs) == 0 {
		return struct{}{}, nil
	}
	return map[string]any{"Attributes": attrs}, nil
}

func (t *fakeTable) scan(in *request, x parsed) (any, *apiError) {
	limit := -1
	if in.Limit != nil {
		if *in.Limit < 1 {
			return nil, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *in.Limit)
		}
		limit = *in.Limit
	}
	keys := make([]string, 0, len(t.items))
	for k := range t.items {
		keys = append(keys, k)
	}
	sort.Strings(keys) // DynamoDB scans in hash order; any fixed order does
	start := 0
	if in.ExclusiveStartKey != nil {
		k, err := t.keyOf(in.ExclusiveStartKey, false)
		if err != nil {
			return nil, validation("The provided starting key is invalid: %s", err.msg)
		}
		start = sort.SearchStrings(keys, k)
		if start < len(keys) && keys[start] == k {
			start++
		}
	}
	items := []item{}
	scanned := 0
	var last item
	for i := start; i < len(keys) && scanned != limit; i++ {
		scanned++
		it := t.items[keys[i]]
		if scanned == limit {
			// Like DynamoDB, stop at Limit and say where, even when
			// nothing is left: the next page may be empty.
			last = t.keyItem(it)
		}
		if x.filter != nil && !x.filter.eval(it) {
			continue
		}
		if x.proj != nil {
			it = project(it, x.proj)
		}
		items = append(items, it)
	}
	out := map[string]any{"Items": items, "Count": len(items), "ScannedCount": scanned}
	if last != nil {
		out["LastEvaluatedKey"] = last
	}
	return out, nil
}

func (db *fakeDB) createTable(body []byte) (any, *apiError) {
	var in struct {
		TableName            string
		AttributeDefinitions []struct{ AttributeName, AttributeType string }
		KeySchema            []struct{ AttributeName, KeyType string }
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, validation("%v", err)
	}
	if len(in.TableName) < 3 || len(in.TableName) > 255 {
		return nil, validation("TableName must be at least 3 characters long and at most 255 characters long")
	}
	defs := map[string]string{}
	for _, d := range in.AttributeDefinitions {
		switch d.AttributeType {
		case "S", "N", "B":
		default:
			return nil, validation("Member must satisfy enum value set: [B, N, S]")
		}
		defs[d.AttributeName] = d.AttributeType
	}
	t := &fakeTable{name: in.TableName, attrs: defs, items: map[string]item{}, created: time.Now()}
	for i, k := range in.KeySchema {
		want := "HASH"
		if i == 1 {
			want = "RANGE"
		}
		if k.KeyType != want || i > 1 {
			return nil, validation("Invalid KeySchema: the first element must be HASH, the optional second RANGE")
		}
		typ, ok := defs[k.AttributeName]
		if !ok {
			return nil, validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: []", k.AttributeName)
		}
		t.keys = append(t.keys, keyDef{k.AttributeName, typ})
	}
	if len(t.keys) == 0 {
		return nil, validation("1 validation error detected: Value null at 'keySchema' failed to satisfy constraint: Member must not be null")
	}
	if len(defs) != len(t.keys) {
		return nil, validation("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if _, ok := db.tables[in.TableName]; ok {
		return nil, &apiError{status: 400, typ: dynamoNS + "ResourceInUseException", msg: "Table already exists: " + in.TableName}
	}
	db.tables[in.TableName] = t
	return map[string]any{"TableDescription": t.describe()}, nil
}

func (t *fakeTable) describe() map[string]any {
	var schema, defs []map[string]string
	for i, k := range t.keys {
		kt := "HASH"
		if i == 1 {
			kt = "RANGE"
		}
		schema = append(schema, map[string]string{"AttributeName": k.name, "KeyType": kt})
		defs = append(defs, map[string]string{"AttributeName": k.name, "AttributeType": k.typ})
	}
	size := 0
	for _, it := range t.items {
		size += itemSize(it)
	}
	return map[string]any{
		"TableName": t.name, "TableStatus": "ACTIVE", "KeySchema": schema, "AttributeDefinitions": defs,
		"TableArn":         "arn:aws:dynamodb:" + Region + ":" + fakeAccount + ":table/" + t.name,
		"CreationDateTime": float64(t.created.UnixMilli()) / 1000, "ItemCount": len(t.items), "TableSizeBytes": size,
		"BillingModeSummary": map[string]string{"BillingMode": "PAY_PER_REQUEST"},
	}
}

func (db *fakeDB) tableOp(op string, body []byte) (any, *apiError) {
	var in struct {
		TableName               string
		TimeToLiveSpecification *struct {
			AttributeName string
			Enabled       bool
		}
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, validation("%v", err)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	t, ok := db.tables[in.TableName]
	if !ok {
		return nil, notFound(in.TableName)
	}
	switch op {
	case "DescribeTable":
		return map[string]any{"Table": t.describe()}, nil
	case "DeleteTable":
		delete(db.tables, in.TableName)
		return map[string]any{"TableDescription": t.describe()}, nil
	case "DescribeTimeToLive":
		if t.ttlAttr == "" {
			return map[string]any{"TimeToLiveDescription": map[string]string{"TimeToLiveStatus": "DISABLED"}}, nil
		}
		return map[string]any{"TimeToLiveDescription": map[string]string{"TimeToLiveStatus": "ENABLED", "AttributeName": t.ttlAttr}}, nil
	}
	spec := in.TimeToLiveSpecification
	if spec == nil || spec.AttributeName == "" {
		return nil, validation("1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null")
	}
	if spec.Enabled == (t.ttlAttr != "") {
		if spec.Enabled {
			return nil, validation("TimeToLive is already enabled")
		}
		return nil, validation("TimeToLive is already disabled")
	}
	t.ttlAttr = ""
	if spec.Enabled {
		t.ttlAttr = spec.AttributeName
	}
	return map[string]any{"TimeToLiveSpecification": map[string]any{"AttributeName": spec.AttributeName, "Enabled": spec.Enabled}}, nil
}
