package awstest

import (
	_ "embed"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DynamoDB's expression language: condition, update and projection
// expressions with ExpressionAttributeNames (#n) and Values (:v), parsed
// into a tree that is then evaluated against an item. The parser reads
// client input, so it bounds its recursion and never panics (see
// FuzzParseExpressions).

//go:embed dynamodb_reserved.txt
var reservedText string

// reserved is DynamoDB's list of words that cannot name an attribute in
// an expression (they need a #placeholder).
var reserved = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(reservedText) {
		m[strings.ToUpper(w)] = true
	}
	return m
}()

const (
	maxExprLen   = 4096 // DynamoDB's limit on one expression
	maxExprDepth = 64
)

// pathElem is one step of a document path: an attribute name, or a list
// index.
type pathElem struct {
	name  string
	index int
	isIdx bool
}

type docPath []pathElem

func (p docPath) String() string {
	var b strings.Builder
	for i, e := range p {
		switch {
		case e.isIdx:
			fmt.Fprintf(&b, "[%d]", e.index)
		case i > 0:
			b.WriteString(", " + e.name)
		default:
			b.WriteString(e.name)
		}
	}
	return "[" + b.String() + "]"
}

// operand is a value in an expression.
type operand struct {
	kind string // "path", "value", "size", "if_not_exists", "list_append", "+", "-"
	path docPath
	val  attr
	name string // the :placeholder, for messages
	args []operand
}

// cond is a condition expression's node.
type cond struct {
	op   string // "=", "<>", "<", "<=", ">", ">=", "between", "in", "and", "or", "not", or a function name
	ops  []operand
	subs []*cond
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokName  // #name
	tokValue // :value
	tokInt   // a list index
	tokPunct
)

type token struct {
	kind tokKind
	text string
}

func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#' || c == ':' || isIdentByte(c):
			j := i + 1
			for j < len(s) && isIdentByte(s[j]) {
				j++
			}
			kind := tokIdent
			switch {
			case c == '#':
				kind = tokName
			case c == ':':
				kind = tokValue
			case c >= '0' && c <= '9':
				kind = tokInt
				for k := i; k < j; k++ {
					if s[k] < '0' || s[k] > '9' {
						return nil, dbErrorf("Syntax error; token: %q", s[i:j])
					}
				}
			}
			if j == i+1 && kind != tokIdent && kind != tokInt {
				return nil, dbErrorf("Syntax error; token: %q", s[i:j])
			}
			out = append(out, token{kind, s[i:j]})
			i = j
		case c == '<' && i+1 < len(s) && (s[i+1] == '>' || s[i+1] == '='):
			out = append(out, token{tokPunct, s[i : i+2]})
			i += 2
		case c == '>' && i+1 < len(s) && s[i+1] == '=':
			out = append(out, token{tokPunct, ">="})
			i += 2
		case strings.IndexByte("=<>(),.[]+-", c) >= 0:
			out = append(out, token{tokPunct, string(c)})
			i++
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return nil, dbErrorf("Invalid character encountered; character: %q", r)
		}
	}
	return append(out, token{kind: tokEOF, text: "<EOF>"}), nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// exprEnv is what a request's expressions share: its names and values,
// and which of them the expressions used.
type exprEnv struct {
	names      map[string]string
	values     item
	usedNames  map[string]bool
	usedValues map[string]bool
}

func newExprEnv(names map[string]string, values item) *exprEnv {
	return &exprEnv{names: names, values: values, usedNames: map[string]bool{}, usedValues: map[string]bool{}}
}

// unused reports names or values no expression used, as DynamoDB does.
func (e *exprEnv) unused() error {
	var n, v []string
	for k := range e.names {
		if !e.usedNames[k] {
			n = append(n, k)
		}
	}
	for k := range e.values {
		if !e.usedValues[k] {
			v = append(v, k)
		}
	}
	sort.Strings(n)
	sort.Strings(v)
	if len(n) > 0 {
		return dbErrorf("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", strings.Join(n, ", "))
	}
	if len(v) > 0 {
		return dbErrorf("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", strings.Join(v, ", "))
	}
	return nil
}

type parser struct {
	env   *exprEnv
	toks  []token
	pos   int
	depth int
}

func newParser(env *exprEnv, s string) (*parser, error) {
	if len(s) > maxExprLen {
		return nil, dbErrorf("Expression size has exceeded the maximum allowed size")
	}
	if strings.TrimSpace(s) == "" {
		return nil, dbErrorf("The expression can not be empty;")
	}
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	return &parser{env: env, toks: toks}, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *parser) syntax() error {
	t := p.peek()
	return dbErrorf("Syntax error; token: %q", t.text)
}

func (p *parser) accept(punct string) bool {
	if t := p.peek(); t.kind == tokPunct && t.text == punct {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(punct string) error {
	if !p.accept(punct) {
		return p.syntax()
	}
	return nil
}

func (p *parser) keyword(kw string) bool {
	if t := p.peek(); t.kind == tokIdent && strings.EqualFold(t.text, kw) {
		p.pos++
		return true
	}
	return false
}

// isCall says whether the next tokens are a function call.
func (p *parser) isCall() bool {
	return p.peek().kind == tokIdent && p.toks[p.pos+1].kind == tokPunct && p.toks[p.pos+1].text == "("
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxExprDepth {
		return dbErrorf("The expression has too many levels of nesting")
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// parsePath reads a document path: name or #name, then .name or [n].
func (p *parser) parsePath() (docPath, error) {
	var path docPath
	first := true
	for {
		t := p.next()
		switch t.kind {
		case tokIdent:
			if reserved[strings.ToUpper(t.text)] {
				return nil, dbErrorf("Attribute name is a reserved keyword; reserved keyword: %s", t.text)
			}
			if t.text[0] >= '0' && t.text[0] <= '9' {
				return nil, dbErrorf("Syntax error; token: %q", t.text)
			}
			path = append(path, pathElem{name: t.text})
		case tokName:
			v, ok := p.env.names[t.text]
			if !ok {
				return nil, dbErrorf("An expression attribute name used in the document path is not defined; attribute name: %s", t.text)
			}
			p.env.usedNames[t.text] = true
			path = append(path, pathElem{name: v})
		default:
			if first {
				return nil, dbErrorf("Syntax error; token: %q", t.text)
			}
			return nil, dbErrorf("Syntax error; token: %q", t.text)
		}
		first = false
		for p.accept("[") {
			t := p.next()
			if t.kind != tokInt {
				return nil, dbErrorf("Syntax error; token: %q", t.text)
			}
			n, err := strconv.Atoi(t.text)
			if err != nil {
				return nil, dbErrorf("List index is too large; index: %s", t.text)
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			path = append(path, pathElem{index: n, isIdx: true})
		}
		if !p.accept(".") {
			return path, nil
		}
	}
}

func (p *parser) parseValue() (operand, error) {
	t := p.next()
	if t.kind != tokValue {
		return operand{}, dbErrorf("Syntax error; token: %q", t.text)
	}
	v, ok := p.env.values[t.text]
	if !ok {
		return operand{}, dbErrorf("An expression attribute value used in expression is not defined; attribute value: %s", t.text)
	}
	p.env.usedValues[t.text] = true
	return operand{kind: "value", val: v, name: t.text}, nil
}

// parseOperand reads a path, a :value or size(path) in a condition.
func (p *parser) parseOperand() (operand, error) {
	switch t := p.peek(); {
	case t.kind == tokValue:
		return p.parseValue()
	case p.isCall():
		if !strings.EqualFold(t.text, "size") {
			return operand{}, dbErrorf("Invalid function name; function: %s", t.text)
		}
		p.pos += 2
		path, err := p.parsePath()
		if err != nil {
			return operand{}, err
		}
		return operand{kind: "size", path: path}, p.expect(")")
	default:
		path, err := p.parsePath()
		return operand{kind: "path", path: path}, err
	}
}

// ParseCondition reads a condition expression (also a filter).
func (e *exprEnv) parseCondition(s string) (*cond, error) {
	p, err := newParser(e, s)
	if err != nil {
		return nil, err
	}
	c, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tokEOF {
		return nil, p.syntax()
	}
	return c, nil
}

func (p *parser) parseOr() (*cond, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	c, err := p.parseAnd()
	for err == nil && p.keyword("OR") {
		var r *cond
		if r, err = p.parseAnd(); err == nil {
			c = &cond{op: "or", subs: []*cond{c, r}}
		}
	}
	return c, err
}

func (p *parser) parseAnd() (*cond, error) {
	c, err := p.parseNot()
	for err == nil && p.keyword("AND") {
		var r *cond
		if r, err = p.parseNot(); err == nil {
			c = &cond{op: "and", subs: []*cond{c, r}}
		}
	}
	return c, err
}

func (p *parser) parseNot() (*cond, error) {
	if p.keyword("NOT") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		c, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &cond{op: "not", subs: []*cond{c}}, nil
	}
	return p.parsePrimary()
}

var condFuncs = map[string]int{"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2, "begins_with": 2, "contains": 2}

func (p *parser) parsePrimary() (*cond, error) {
	if p.accept("(") {
		c, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		return c, p.expect(")")
	}
	if t := p.peek(); p.isCall() && !strings.EqualFold(t.text, "size") {
		name := strings.ToLower(t.text)
		arity, ok := condFuncs[name]
		if !ok {
			return nil, dbErrorf("Invalid function name; function: %s", t.text)
		}
		p.pos += 2
		path, err := p.parsePath()
		if err != nil {
			return nil, err
		}
		c := &cond{op: name, ops: []operand{{kind: "path", path: path}}}
		if arity == 2 {
			if err := p.expect(","); err != nil {
				return nil, err
			}
			o, err := p.parseOperand()
			if err != nil {
				return nil, err
			}
			c.ops = append(c.ops, o)
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return c, checkFunc(c)
	}
	a, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	switch {
	case t.kind == tokPunct && strings.Contains("= <> < <= > >=", t.text) && t.text != "":
		switch t.text {
		case "=", "<>", "<", "<=", ">", ">=":
		default:
			return nil, p.syntax()
		}
		p.pos++
		b, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		c := &cond{op: t.text, ops: []operand{a, b}}
		if t.text != "=" && t.text != "<>" {
			if err := orderable(t.text, a, b); err != nil {
				return nil, err
			}
		}
		return c, nil
	case p.keyword("BETWEEN"):
		lo, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		if !p.keyword("AND") {
			return nil, p.syntax()
		}
		hi, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		if err := orderable("BETWEEN", a, lo, hi); err != nil {
			return nil, err
		}
		if lo.kind == "value" && hi.kind == "value" {
			if c, ok := lo.val.compare(hi.val); ok && c > 0 {
				return nil, dbErrorf("Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {%s:%s}, upper bound operand: AttributeValue: {%s:%s}", lo.val.t, lo.val.s, hi.val.t, hi.val.s)
			}
		}
		return &cond{op: "between", ops: []operand{a, lo, hi}}, nil
	case p.keyword("IN"):
		if err := p.expect("("); err != nil {
			return nil, err
		}
		ops := []operand{a}
		for {
			o, err := p.parseOperand()
			if err != nil {
				return nil, err
			}
			ops = append(ops, o)
			if !p.accept(",") {
				break
			}
		}
		if len(ops) > 101 {
			return nil, dbErrorf("Too many operands for the IN operator")
		}
		return &cond{op: "in", ops: ops}, p.expect(")")
	}
	return nil, p.syntax()
}

// typeName is how DynamoDB names a type in its messages.
func typeName(t string) string {
	return map[string]string{"S": "STRING", "N": "NUMBER", "B": "BINARY", "BOOL": "BOOLEAN", "NULL": "NULL",
		"SS": "SS", "NS": "NS", "BS": "BS", "L": "LIST", "M": "MAP"}[t]
}

// orderable rejects literal operands that cannot be ordered, as DynamoDB
// does before it looks at the item.
func orderable(op string, ops ...operand) error {
	for _, o := range ops {
		if o.kind == "value" && o.val.t != "S" && o.val.t != "N" && o.val.t != "B" {
			return dbErrorf("Incorrect operand type for operator or function; operator: %s, operand type: %s", op, typeName(o.val.t))
		}
	}
	return nil
}

func checkFunc(c *cond) error {
	switch c.op {
	case "begins_with":
		if o := c.ops[1]; o.kind == "value" && o.val.t != "S" && o.val.t != "B" {
			return dbErrorf("Incorrect operand type for operator or function; operator or function: begins_with, operand type: %s", typeName(o.val.t))
		}
	case "attribute_type":
		o := c.ops[1]
		if o.kind != "value" || o.val.t != "S" || typeName(o.val.s) == "" {
			return dbErrorf("Invalid attribute type name found; type: %s, valid types: { B, NULL, SS, BOOL, L, BS, N, NS, S, M }", o.val.s)
		}
	}
	return nil
}

// resolve finds the value at path in it.
func resolve(it item, path docPath) (attr, bool) {
	cur := attr{t: "M", m: it}
	for _, e := range path {
		switch {
		case e.isIdx:
			if cur.t != "L" || e.index >= len(cur.l) {
				return attr{}, false
			}
			cur = cur.l[e.index]
		default:
			if cur.t != "M" {
				return attr{}, false
			}
			v, ok := cur.m[e.name]
			if !ok {
				return attr{}, false
			}
			cur = v
		}
	}
	return cur, true
}

// value evaluates a condition's operand.
func (o operand) value(it item) (attr, bool) {
	switch o.kind {
	case "value":
		return o.val, true
	case "path":
		return resolve(it, o.path)
	case "size":
		v, ok := resolve(it, o.path)
		if !ok {
			return attr{}, false
		}
		var n int
		switch v.t {
		case "S":
			n = utf8.RuneCountInString(v.s)
		case "B":
			n = len(v.s)
		case "SS", "NS", "BS":
			n = len(v.set)
		case "L":
			n = len(v.l)
		case "M":
			n = len(v.m)
		default:
			return attr{}, false
		}
		return attr{t: "N", s: strconv.Itoa(n)}, true
	}
	return attr{}, false
}

// eval says whether it satisfies the condition.
func (c *cond) eval(it item) bool {
	switch c.op {
	case "and":
		return c.subs[0].eval(it) && c.subs[1].eval(it)
	case "or":
		return c.subs[0].eval(it) || c.subs[1].eval(it)
	case "not":
		return !c.subs[0].eval(it)
	case "attribute_exists", "attribute_not_exists":
		_, ok := resolve(it, c.ops[0].path)
		return ok == (c.op == "attribute_exists")
	case "attribute_type":
		v, ok := resolve(it, c.ops[0].path)
		return ok && v.t == c.ops[1].val.s
	case "begins_with":
		v, ok1 := resolve(it, c.ops[0].path)
		pre, ok2 := c.ops[1].value(it)
		return ok1 && ok2 && v.t == pre.t && (v.t == "S" || v.t == "B") && strings.HasPrefix(v.s, pre.s)
	case "contains":
		v, ok1 := resolve(it, c.ops[0].path)
		x, ok2 := c.ops[1].value(it)
		if !ok1 || !ok2 {
			return false
		}
		switch v.t {
		case "S", "B":
			return x.t == v.t && strings.Contains(v.s, x.s)
		case "SS", "NS", "BS":
			if x.t != v.t[:1] {
				return false
			}
			for _, e := range v.set {
				if (attr{t: x.t, s: e}).equal(x) {
					return true
				}
			}
		case "L":
			for _, e := range v.l {
				if e.equal(x) {
					return true
				}
			}
		}
		return false
	case "between":
		a, ok1 := c.ops[0].value(it)
		lo, ok2 := c.ops[1].value(it)
		hi, ok3 := c.ops[2].value(it)
		if !ok1 || !ok2 || !ok3 {
			return false
		}
		x, okx := a.compare(lo)
		y, oky := a.compare(hi)
		return okx && oky && x >= 0 && y <= 0
	case "in":
		a, ok := c.ops[0].value(it)
		if !ok {
			return false
		}
		for _, o := range c.ops[1:] {
			if v, ok := o.value(it); ok && a.equal(v) {
				return true
			}
		}
		return false
	}
	a, ok1 := c.ops[0].value(it)
	b, ok2 := c.ops[1].value(it)
	if c.op == "<>" {
		// An absent attribute differs from every value.
		return ok1 != ok2 || ok1 && !a.equal(b)
	}
	if !ok1 || !ok2 {
		return false
	}
	if c.op == "=" {
		return a.equal(b)
	}
	n, ok := a.compare(b)
	if !ok {
		return false
	}
	switch c.op {
	case "<":
		return n < 0
	case "<=":
		return n <= 0
	case ">":
		return n > 0
	default:
		return n >= 0
	}
}

// update is a parsed update expression.
type update struct {
	set    []setAction
	remove []docPath
	add    []valAction
	del    []valAction
}

type setAction struct {
	path docPath
	val  operand
}

type valAction struct {
	path docPath
	val  operand
}

// parseUpdate reads an update expression.
func (e *exprEnv) parseUpdate(s string) (*update, error) {
	p, err := newParser(e, s)
	if err != nil {
		return nil, err
	}
	u := &update{}
	seen := map[string]bool{}
	for p.peek().kind != tokEOF {
		t := p.next()
		kw := strings.ToUpper(t.text)
		if t.kind != tokIdent || (kw != "SET" && kw != "REMOVE" && kw != "ADD" && kw != "DELETE") {
			return nil, dbErrorf("Syntax error; token: %q", t.text)
		}
		if seen[kw] {
			return nil, dbErrorf("The %q section can only be used once in an update expression;", kw)
		}
		seen[kw] = true
		for {
			path, err := p.parsePath()
			if err != nil {
				return nil, err
			}
			switch kw {
			case "SET":
				if err := p.expect("="); err != nil {
					return nil, err
				}
				v, err := p.parseSetValue()
				if err != nil {
					return nil, err
				}
				u.set = append(u.set, setAction{path, v})
			case "REMOVE":
				u.remove = append(u.remove, path)
			default:
				v, err := p.parseValue()
				if err != nil {
					return nil, err
				}
				if len(path) != 1 {
					return nil, dbErrorf("Syntax error; %s supports only top-level attributes", kw)
				}
				if kw == "ADD" {
					if t := v.val.t; t != "N" && t != "SS" && t != "NS" && t != "BS" {
						return nil, dbErrorf("Incorrect operand type for operator or function; operator: ADD, operand type: %s", typeName(t))
					}
					u.add = append(u.add, valAction{path, v})
				} else {
					if t := v.val.t; t != "SS" && t != "NS" && t != "BS" {
						return nil, dbErrorf("Incorrect operand type for operator or function; operator: DELETE, operand type: %s", typeName(t))
					}
					u.del = append(u.del, valAction{path, v})
				}
			}
			if !p.accept(",") {
				break
			}
		}
	}
	return u, u.checkOverlap()
}

func (p *parser) parseSetValue() (operand, error) {
	a, err := p.parseSetOperand()
	if err != nil {
		return operand{}, err
	}
	for _, op := range []string{"+", "-"} {
		if p.accept(op) {
			b, err := p.parseSetOperand()
			if err != nil {
				return operand{}, err
			}
			return operand{kind: op, args: []operand{a, b}}, nil
		}
	}
	return a, nil
}

func (p *parser) parseSetOperand() (operand, error) {
	if err := p.enter(); err != nil {
		return operand{}, err
	}
	defer p.leave()
	t := p.peek()
	switch {
	case t.kind == tokValue:
		return p.parseValue()
	case p.isCall():
		p.pos += 2
		var o operand
		switch strings.ToLower(t.text) {
		case "if_not_exists":
			path, err := p.parsePath()
			if err != nil {
				return o, err
			}
			if err := p.expect(","); err != nil {
				return o, err
			}
			v, err := p.parseSetOperand()
			if err != nil {
				return o, err
			}
			o = operand{kind: "if_not_exists", path: path, args: []operand{v}}
		case "list_append":
			a, err := p.parseSetOperand()
			if err != nil {
				return o, err
			}
			if err := p.expect(","); err != nil {
				return o, err
			}
			b, err := p.parseSetOperand()
			if err != nil {
				return o, err
			}
			o = operand{kind: "list_append", args: []operand{a, b}}
		default:
			return o, dbErrorf("Invalid function name; function: %s", t.text)
		}
		return o, p.expect(")")
	default:
		path, err := p.parsePath()
		return operand{kind: "path", path: path}, err
	}
}

// paths lists every path the update writes.
func (u *update) paths() []docPath {
	var out []docPath
	for _, a := range u.set {
		out = append(out, a.path)
	}
	out = append(out, u.remove...)
	for _, a := range u.add {
		out = append(out, a.path)
	}
	for _, a := range u.del {
		out = append(out, a.path)
	}
	return out
}

func (u *update) checkOverlap() error {
	ps := u.paths()
	for i := range ps {
		for j := i + 1; j < len(ps); j++ {
			if overlap(ps[i], ps[j]) {
				return dbErrorf("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: %s, path two: %s", ps[i], ps[j])
			}
		}
	}
	return nil
}

func overlap(a, b docPath) bool {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var errUpdateType = dbErrorf("An operand in the update expression has an incorrect data type")

// setValue evaluates a SET action's value against the old item.
func (o operand) setValue(old item) (attr, error) {
	switch o.kind {
	case "value":
		return o.val, nil
	case "path":
		v, ok := resolve(old, o.path)
		if !ok {
			return attr{}, dbErrorf("The provided expression refers to an attribute that does not exist in the item")
		}
		return v, nil
	case "if_not_exists":
		if v, ok := resolve(old, o.path); ok {
			return v, nil
		}
		return o.args[0].setValue(old)
	case "list_append":
		a, err := o.args[0].setValue(old)
		if err != nil {
			return attr{}, err
		}
		b, err := o.args[1].setValue(old)
		if err != nil {
			return attr{}, err
		}
		if a.t != "L" || b.t != "L" {
			return attr{}, errUpdateType
		}
		return attr{t: "L", l: append(append([]attr{}, a.l...), b.l...)}, nil
	case "+", "-":
		a, err := o.args[0].setValue(old)
		if err != nil {
			return attr{}, err
		}
		b, err := o.args[1].setValue(old)
		if err != nil {
			return attr{}, err
		}
		if a.t != "N" || b.t != "N" {
			return attr{}, errUpdateType
		}
		r := new(big.Rat)
		if o.kind == "+" {
			r.Add(num(a.s), num(b.s))
		} else {
			r.Sub(num(a.s), num(b.s))
		}
		s, err := canonicalNumber(ratString(r))
		if err != nil {
			return attr{}, err
		}
		return attr{t: "N", s: s}, nil
	}
	return attr{}, fmt.Errorf("unknown operand %q", o.kind)
}

var errBadPath = dbErrorf("The document path provided in the update expression is invalid for update")

// setAt writes v at path in it, whose parents must exist.
func setAt(it item, path docPath, v attr) error {
	if len(path) == 1 {
		it[path[0].name] = v
		return nil
	}
	parent, ok := resolve(it, path[:len(path)-1])
	if !ok {
		return errBadPath
	}
	last := path[len(path)-1]
	switch {
	case last.isIdx && parent.t == "L":
		if last.index >= len(parent.l) {
			parent.l = append(parent.l, v)
		} else {
			parent.l[last.index] = v
		}
		return replaceAt(it, path[:len(path)-1], parent)
	case !last.isIdx && parent.t == "M":
		parent.m[last.name] = v // maps are shared, so this writes through
		return nil
	}
	return errBadPath
}

// replaceAt writes a list back after it grew (slices are values).
func replaceAt(it item, path docPath, v attr) error { return setAt(it, path, v) }

// removeAt removes path from it; an absent path is no error.
func removeAt(it item, path docPath) {
	if len(path) == 1 {
		delete(it, path[0].name)
		return
	}
	parent, ok := resolve(it, path[:len(path)-1])
	if !ok {
		return
	}
	last := path[len(path)-1]
	switch {
	case last.isIdx && parent.t == "L" && last.index < len(parent.l):
		parent.l = append(parent.l[:last.index:last.index], parent.l[last.index+1:]...)
		_ = replaceAt(it, path[:len(path)-1], parent)
	case !last.isIdx && parent.t == "M":
		delete(parent.m, last.name)
	}
}

// apply runs the update on a copy of old and returns the new item.
func (u *update) apply(old item) (item, error) {
	// SET values are read from the item as it was.
	vals := make([]attr, len(u.set))
	for i, a := range u.set {
		v, err := a.val.setValue(old)
		if err != nil {
			return nil, err
		}
		vals[i] = v.clone()
	}
	it := cloneItem(old)
	for i, a := range u.set {
		if err := setAt(it, a.path, vals[i]); err != nil {
			return nil, err
		}
	}
	for _, p := range u.remove {
		removeAt(it, p)
	}
	for _, a := range u.add {
		name := a.path[0].name
		cur, ok := it[name]
		v := a.val.val
		switch {
		case !ok:
			it[name] = v.clone()
		case cur.t != v.t:
			return nil, errUpdateType
		case v.t == "N":
			s, err := canonicalNumber(ratString(new(big.Rat).Add(num(cur.s), num(v.s))))
			if err != nil {
				return nil, err
			}
			it[name] = attr{t: "N", s: s}
		default:
			it[name] = setUnion(cur, v)
		}
	}
	for _, a := range u.del {
		name := a.path[0].name
		cur, ok := it[name]
		if !ok {
			continue
		}
		if cur.t != a.val.val.t {
			return nil, errUpdateType
		}
		left := setMinus(cur, a.val.val)
		if len(left.set) == 0 {
			delete(it, name)
		} else {
			it[name] = left
		}
	}
	return it, nil
}

func setUnion(a, b attr) attr {
	out := attr{t: a.t, set: append([]string(nil), a.set...)}
	for _, x := range b.set {
		if !setHas(a, x) {
			out.set = append(out.set, x)
		}
	}
	return out
}

func setMinus(a, b attr) attr {
	out := attr{t: a.t}
	for _, x := range a.set {
		if !setHas(b, x) {
			out.set = append(out.set, x)
		}
	}
	return out
}

func setHas(s attr, x string) bool {
	for _, y := range s.set {
		if (attr{t: s.t[:1], s: y}).equal(attr{t: s.t[:1], s: x}) {
			return true
		}
	}
	return false
}

// parseProjection reads a projection expression: paths, comma separated.
func (e *exprEnv) parseProjection(s string) ([]docPath, error) {
	p, err := newParser(e, s)
	if err != nil {
		return nil, err
	}
	var out []docPath
	for {
		path, err := p.parsePath()
		if err != nil {
			return nil, err
		}
		out = append(out, path)
		if !p.accept(",") {
			break
		}
	}
	if p.peek().kind != tokEOF {
		return nil, p.syntax()
	}
	return out, nil
}

// project keeps only the given paths of it (lists keep their projected
// elements, in order, as DynamoDB answers them).
func project(it item, paths []docPath) item {
	paths = append([]docPath(nil), paths...)
	sort.SliceStable(paths, func(i, j int) bool { return pathLess(paths[i], paths[j]) })
	out := item{}
	for _, p := range paths {
		v, ok := resolve(it, p)
		if !ok {
			continue
		}
		mergePath(out, p, v.clone())
	}
	return out
}

func mergePath(out item, p docPath, v attr) {
	if len(p) == 1 {
		out[p[0].name] = v
		return
	}
	// Build the skeleton of p[0], then descend.
	cur, ok := out[p[0].name]
	if !ok {
		if p[1].isIdx {
			cur = attr{t: "L"}
		} else {
			cur = attr{t: "M", m: item{}}
		}
	}
	cur = mergeInto(cur, p[1:], v)
	out[p[0].name] = cur
}

func mergeInto(cur attr, p docPath, v attr) attr {
	if len(p) == 0 {
		return v
	}
	e := p[0]
	if e.isIdx {
		if cur.t != "L" {
			return cur
		}
		var child attr
		if len(p) > 1 {
			if p[1].isIdx {
				child = attr{t: "L"}
			} else {
				child = attr{t: "M", m: item{}}
			}
		}
		cur.l = append(cur.l, mergeInto(child, p[1:], v))
		return cur
	}
	if cur.t != "M" {
		return cur
	}
	child, ok := cur.m[e.name]
	if !ok && len(p) > 1 {
		if p[1].isIdx {
			child = attr{t: "L"}
		} else {
			child = attr{t: "M", m: item{}}
		}
	}
	cur.m[e.name] = mergeInto(child, p[1:], v)
	return cur
}

// pathLess orders paths so that list elements are projected in index
// order.
func pathLess(a, b docPath) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := a[i], b[i]
		switch {
		case x.isIdx && y.isIdx && x.index != y.index:
			return x.index < y.index
		case !x.isIdx && !y.isIdx && x.name != y.name:
			return x.name < y.name
		case x.isIdx != y.isIdx:
			return x.isIdx
		}
	}
	return len(a) < len(b)
}
