package membercard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// MaxBodyBytes bounds a request body; the largest valid one is under 1 KiB.
const MaxBodyBytes = 16 << 10

// Decode reads one JSON object into v by the rules WeChat Pay applies to
// request bodies, and stricter ones that keep a caller from smuggling
// anything through: UTF-8 of 1 to 3 byte characters only, no JSON null, no
// duplicate keys, no unknown fields, one object and nothing after it, at
// most MaxBodyBytes; and no missing key of those a type of this package
// requires whatever their value, such as point_balance, whose 0 is valid
// (UserPointsSyncRequest, BalanceInformation). Keys must match v's field names exactly:
// encoding/json alone matches them case-insensitively (and folds U+017F
// into s and the Kelvin sign into k), so {"openid":"a","OPENID":"b"} would
// be read as b by it and as a by anything that compares keys exactly. Errors
// are *FieldError naming the field ("body" for the whole); an unknown key
// is named by at most a short, escaped prefix, as it may be anything,
// including an openid.
func Decode(data []byte, v any) error {
	if len(data) > MaxBodyBytes {
		return &FieldError{Field: "body", Reason: fmt.Sprintf("must be at most %d bytes", MaxBodyBytes)}
	}
	if !utf8.Valid(data) {
		return &FieldError{Field: "body", Reason: "must be valid UTF-8"}
	}
	for _, r := range string(data) {
		if r > 0xFFFF {
			return &FieldError{Field: "body", Reason: "must not contain 4-byte UTF-8 characters such as emoji"}
		}
	}
	if err := scan(data, reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(reflect.TypeOf(v), err)
	}
	return nil
}

// fields maps a struct's exact JSON key names to their types; nil means
// any key is accepted (a map, or not a struct).
type fields map[string]reflect.Type

var fieldCache sync.Map // reflect.Type -> fields

// indirect is t after pointers.
func indirect(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// fieldsOf returns the JSON keys of t (after pointers) when it is a struct.
func fieldsOf(t reflect.Type) fields {
	t = indirect(t)
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	if f, ok := fieldCache.Load(t); ok {
		return f.(fields)
	}
	f := fields{}
	var promoted []fields
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		// An embedded struct without a name of its own has its fields
		// promoted into the object, as encoding/json reads them (the
		// partner confirm request embeds the brand one).
		// An unexported one is read too, as a whole or through its
		// exported fields; any other unexported field is not.
		embeddedStruct := sf.Anonymous && indirect(sf.Type).Kind() == reflect.Struct
		if embeddedStruct && name == "" {
			promoted = append(promoted, fieldsOf(sf.Type))
			continue
		}
		if name == "-" || !sf.IsExported() && !embeddedStruct {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		f[name] = sf.Type
	}
	// The outer struct's own fields win over promoted ones of the same
	// name, as in encoding/json.
	for _, p := range promoted {
		for name, ft := range p {
			if _, own := f[name]; !own {
				f[name] = ft
			}
		}
	}
	fieldCache.Store(t, f)
	return f
}

// requiredKeyer is a type whose body must hold some keys whatever their
// values: a number whose 0 is a valid value cannot tell a missing key
// from 0 once decoded.
type requiredKeyer interface{ requiredKeys() []string }

// requiredOf is the keys t (after pointers) requires, if it says.
func requiredOf(t reflect.Type) []string {
	t = indirect(t)
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	if r, ok := reflect.New(t).Interface().(requiredKeyer); ok {
		return r.requiredKeys()
	}
	return nil
}

// scan walks the tokens once to refuse what encoding/json lets through:
// duplicate keys, keys that are not exactly a field's name, null, missing
// required keys, and a top level that is not exactly one object.
func scan(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err == io.EOF {
		return &FieldError{Field: "body", Reason: "is required"}
	}
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return &FieldError{Field: "body", Reason: "must be a JSON object"}
	}
	if err := scanObject(dec, "", t); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return &FieldError{Field: "body", Reason: "must hold one JSON object and nothing after it"}
	}
	return nil
}

func scanValue(dec *json.Decoder, tok json.Token, path string, t reflect.Type) error {
	switch d := tok.(type) {
	case nil:
		return &FieldError{Field: path, Reason: "must not be null; omit it instead"}
	case json.Delim:
		if d == '{' {
			return scanObject(dec, path, t)
		}
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		return scanArray(dec, path, elem)
	}
	return nil
}

func scanObject(dec *json.Decoder, path string, t reflect.Type) error {
	known := fieldsOf(t)
	keys := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return invalidAt(path, err)
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			for _, key := range requiredOf(t) {
				if !keys[key] {
					return &FieldError{Field: join(path, key), Reason: "is required"}
				}
			}
			return nil
		}
		key, _ := tok.(string) // the decoder only yields strings in key position
		var ft reflect.Type
		if known != nil {
			var ok bool
			if ft, ok = known[key]; !ok {
				return unknownKey(path, key, known)
			}
		}
		p := join(path, key)
		if keys[key] {
			return &FieldError{Field: p, Reason: "appears more than once"}
		}
		keys[key] = true
		if tok, err = dec.Token(); err != nil {
			return invalidAt(p, err)
		}
		if err := scanValue(dec, tok, p, ft); err != nil {
			return err
		}
	}
}

// unknownKey refuses a key that is not exactly a field's name, naming the
// field it was probably meant to be when it differs only in case.
func unknownKey(path, key string, known fields) error {
	for name := range known {
		if strings.EqualFold(name, key) {
			return &FieldError{Field: join(path, name), Reason: "must be spelled exactly " + strconv.Quote(name) + "; a key differing in case is not accepted", err: ErrUnknownField}
		}
	}
	return &FieldError{Field: join(path, ShortKey(key)), Reason: "is not a known field", err: ErrUnknownField}
}

// shortKeyRunes is how much of an unknown key an error shows.
const shortKeyRunes = 8

// ShortKey is how an untrusted key appears in errors and logs: its first
// few characters, escaped (quotes, controls, invisible and non-ASCII
// characters as \u escapes), and "…" when cut. A key may be anything, an
// openid or 16 KB of text; this shows enough to find the mistake.
func ShortKey(key string) string {
	cut := false
	if utf8.RuneCountInString(key) > shortKeyRunes {
		runes := []rune(key)
		key, cut = string(runes[:shortKeyRunes]), true
	}
	q := strconv.QuoteToASCII(key)
	if cut {
		q += "…"
	}
	return q
}

func scanArray(dec *json.Decoder, path string, elem reflect.Type) error {
	for {
		tok, err := dec.Token()
		if err != nil {
			return invalidAt(path, err)
		}
		if d, ok := tok.(json.Delim); ok && d == ']' {
			return nil
		}
		if err := scanValue(dec, tok, path, elem); err != nil {
			return err
		}
	}
}

// invalidAt names the field whose value breaks the JSON syntax. A body
// that ends too soon is the body's fault, not that of the field it was cut
// in: a truncated {"card_id":"pbL… says so rather than blaming card_id.
func invalidAt(path string, err error) error {
	if path == "" || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &FieldError{Field: "body", Reason: "is not valid JSON: it ends before the object is complete"}
	}
	return &FieldError{Field: path, Reason: "is not valid JSON"}
}

// join names key under path; an empty key is named "" so that an error
// about it still names a field.
func join(path, key string) string {
	if key == "" {
		key = `""`
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func decodeError(t reflect.Type, err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		f := jsonPath(t, typeErr.Field)
		if f == "" {
			f = "body"
		}
		return &FieldError{Field: f, Reason: "must be a " + typeName(typeErr.Type.Kind().String())}
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return &FieldError{Field: ShortKey(strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)), Reason: "is not a known field", err: ErrUnknownField}
	}
	return &FieldError{Field: "body", Reason: "is not valid JSON"}
}

// jsonPath names a field by its JSON keys alone: encoding/json puts the
// Go name of an embedded struct in the path it reports
// ("UserCardConfirmRequest.card_id"), a name no body holds.
func jsonPath(t reflect.Type, path string) string {
	var keys []string
	for _, seg := range strings.Split(path, ".") {
		t = indirect(t)
		// encoding/json names neither an element's index nor a map's key.
		for t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map) {
			t = indirect(t.Elem())
		}
		if t == nil || t.Kind() != reflect.Struct {
			keys, t = append(keys, seg), nil
			continue
		}
		if sf, ok := t.FieldByName(seg); ok && sf.Anonymous && len(sf.Index) == 1 {
			t = sf.Type
			continue
		}
		keys, t = append(keys, seg), fieldsOf(t)[seg]
	}
	return strings.Join(keys, ".")
}

func typeName(kind string) string {
	switch kind {
	case "bool":
		return "boolean"
	case "ptr":
		return "boolean"
	}
	return kind
}
