package protocol

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
)

// member is one name and value of a JSON object, in the order of the text.
type member struct {
	name  string
	value any
}

// object is a JSON object as its members, in order; arrays are []any, numbers json.Number.
type object []member

// lastValues returns the valid JSON object data re-encoded so that encoding/json reads it into
// a value of type t (a pointer to a struct) as protocol.md and docs/behaviour.md §12 say:
// a name repeated in an object keeps only its last value, whole, where encoding/json would
// merge two objects given under one name into one struct, and a member whose name is not a
// field's name exactly is left out, where encoding/json would take a name that differs only in
// case for the field's (protocol.md "Shapes": names are exactly as written). It fails when a
// number that goes into an integer field has no fraction or exponent but does not fit in 53
// bits (protocol.md "Shapes"), and when a list whose entries cannot be null (a list of
// userIDs) holds a null, which encoding/json would read as "". A value of the wrong type is
// left as it is, for encoding/json to refuse with its path.
func lastValues(data []byte, t reflect.Type) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tree, err := readValue(dec)
	if err != nil {
		return nil, errors.New("data is not valid JSON")
	}
	if tree, err = exactValue(tree, t, ""); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := writeValue(&out, tree); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// readValue reads the next JSON value of dec, objects as object with each name's last value
// at the place of its last occurrence.
func readValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		var all object
		last := map[string]int{} // each name's last place in all
		for dec.More() {
			name, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := readValue(dec)
			if err != nil {
				return nil, err
			}
			key, _ := name.(string)
			last[key] = len(all)
			all = append(all, member{key, v})
		}
		obj := make(object, 0, len(last))
		for i, m := range all {
			if last[m.name] == i {
				obj = append(obj, m)
			}
		}
		_, err := dec.Token() // '}'
		return obj, err
	case json.Delim('['):
		list := []any{}
		for dec.More() {
			v, err := readValue(dec)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		_, err := dec.Token() // ']'
		return list, err
	}
	return tok, nil
}

// writeValue writes v, as readValue makes it, as JSON.
func writeValue(w io.Writer, v any) error {
	switch v := v.(type) {
	case object:
		io.WriteString(w, "{")
		for i, m := range v {
			if i > 0 {
				io.WriteString(w, ",")
			}
			name, _ := json.Marshal(m.name)
			w.Write(name)
			io.WriteString(w, ":")
			if err := writeValue(w, m.value); err != nil {
				return err
			}
		}
		io.WriteString(w, "}")
		return nil
	case []any:
		io.WriteString(w, "[")
		for i, e := range v {
			if i > 0 {
				io.WriteString(w, ",")
			}
			if err := writeValue(w, e); err != nil {
				return err
			}
		}
		io.WriteString(w, "]")
		return nil
	}
	b, err := json.Marshal(v)
	w.Write(b)
	return err
}

// exactValue returns v, as readValue makes it, that goes into a Go value of type t at the JSON
// path path, without the members of its objects, at any depth, whose names are not exactly
// those of the fields they would go into: unknown fields, which are ignored, names in another
// case included. It fails as lastValues says, naming the value by its path.
func exactValue(v any, t reflect.Type, path string) (any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(object)
		if !ok {
			return v, nil
		}
		fields := jsonFields(t)
		kept := object{}
		for _, m := range obj {
			ft, known := fields[m.name]
			if !known {
				continue
			}
			value, err := exactValue(m.value, ft, joinPath(path, m.name))
			if err != nil {
				return nil, err
			}
			kept = append(kept, member{m.name, value})
		}
		return kept, nil
	case reflect.Slice, reflect.Array:
		list, ok := v.([]any)
		if !ok {
			return v, nil
		}
		out := make([]any, len(list))
		for i, e := range list {
			if e == nil && !nullable(t.Elem()) {
				return nil, fmt.Errorf("%s: a JSON null is not a valid entry", path)
			}
			value, err := exactValue(e, t.Elem(), path)
			if err != nil {
				return nil, err
			}
			out[i] = value
		}
		return out, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v, checkInteger(v, path)
	}
	return v, nil
}

// nullable reports whether a Go value of type t can hold JSON null as such (a pointer, map,
// slice or interface), rather than leaving it unset.
func nullable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return true
	}
	return false
}

// checkInteger refuses v, a JSON number written as an integer, when it does not fit in 53
// bits. A number with a fraction or an exponent is left for encoding/json to refuse.
func checkInteger(v any, path string) error {
	n, ok := v.(json.Number)
	if !ok || strings.ContainsAny(string(n), ".eE") {
		return nil
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || i > MaxInteger || i < -MaxInteger {
		return fmt.Errorf("%s: %s is not an integer of at most 53 bits", path, n)
	}
	return nil
}

// jsonFields returns the JSON names of struct type t's fields, as encoding/json names them
// (the tag's name, else the Go name; "-" skipped; embedded structs' fields promoted), with
// each field's type.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || len(f.Index) > 1 && !promoted(t, f) {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			continue // its fields are promoted
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

// promoted reports whether f, a field of an embedded struct of t, is promoted by
// encoding/json: every struct it is reached through is embedded without a JSON name.
func promoted(t reflect.Type, f reflect.StructField) bool {
	for _, i := range f.Index[:len(f.Index)-1] {
		e := t.Field(i)
		if name, _, _ := strings.Cut(e.Tag.Get("json"), ","); name != "" || e.Type.Kind() != reflect.Struct {
			return false
		}
		t = e.Type
	}
	return true
}

// joinPath appends name to the JSON path path.
func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// fieldNames holds the JSON names of the fields of a type and of every type it holds, at any
// depth (fieldNamesOf): each name, and whether another of them differs from it only in case.
type fieldNames map[string]bool

// fieldNamesCache holds fieldNamesOf's answers by type.
var fieldNamesCache sync.Map

// fieldNamesOf returns the fieldNames of t, a pointer to a struct of the protocol's data types.
func fieldNamesOf(t reflect.Type) fieldNames {
	if names, ok := fieldNamesCache.Load(t); ok {
		return names.(fieldNames)
	}
	names := fieldNames{}
	addFieldNames(names, t, map[reflect.Type]bool{})
	for n := range names {
		for other := range names {
			if other != n && strings.EqualFold(other, n) {
				names[n] = true
			}
		}
	}
	fieldNamesCache.Store(t, names)
	return names
}

// addFieldNames adds to names those of the fields of t and of the types they hold; seen holds
// the struct types already visited.
func addFieldNames(names fieldNames, t reflect.Type, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return
	}
	seen[t] = true
	for name, ft := range jsonFields(t) {
		names[name] = false
		addFieldNames(names, ft, seen)
	}
}

// inAnotherCase reports whether name differs only in case from one of names other than itself:
// a name encoding/json could take for another field than the one of its exact name, or for a
// field although it names none.
func (names fieldNames) inAnotherCase(name []byte) bool {
	if twin, known := names[string(name)]; known {
		return twin
	}
	for n := range names {
		if bytes.EqualFold([]byte(n), name) {
			return true
		}
	}
	return false
}

// MaxDataItems bounds the names and values (each object, list, string, number, true, false and
// null) of one request's data; no op's data needs more than a few dozen.
const MaxDataItems = 1024

// maxPlainNames bounds the names of one object that scanData compares with each other, in
// quadratic time; no op's data has an object of that many.
const maxPlainNames = 16

// scanData reads data, valid JSON that goes into a value of a type whose field names are
// fields, once, and counts its items: its names and values (each object, list, string, number,
// true, false and null), stopping once there are more than MaxDataItems, when plain tells only
// of what it read. It also reports whether data is plain: whether it holds none of what
// lastValues is for, no object with a name twice (a name with an escape counts as repeated),
// no name that differs only in case from a field's (fieldNames.inAnotherCase), no null in a
// list, and no integer of 16 digits or more (2^53 has 16). encoding/json then reads plain data
// as it reads lastValues' output, and DecodeData skips that slower reading: requests from the
// SDKs are plain. An object of more than maxPlainNames names is not plain either: lastValues,
// whose map finds a repeated name at once, reads it in linear time.
func scanData(data []byte, fields fieldNames) (plain bool, items int) {
	type scope struct {
		object bool
		names  int // where this object's names begin in names
	}
	var scopeBuf [8]scope
	var nameBuf [16][]byte
	scopes, names := scopeBuf[:0], nameBuf[:0]
	plain = true
	for i := 0; i < len(data) && items <= MaxDataItems; {
		switch c := data[i]; {
		case c == '{' || c == '[':
			items++
			scopes = append(scopes, scope{object: c == '{', names: len(names)})
			i++
		case c == '}' || c == ']':
			names = names[:scopes[len(scopes)-1].names]
			scopes = scopes[:len(scopes)-1]
			i++
		case c == '"':
			items++
			end := stringEnd(data, i)
			if plain && len(scopes) > 0 && scopes[len(scopes)-1].object && isName(data, end) {
				name := data[i+1 : end-1]
				plain = newPlainName(names[scopes[len(scopes)-1].names:], name, fields)
				names = append(names, name)
			}
			i = end
		case c == 'n': // null
			items++
			if len(scopes) > 0 && !scopes[len(scopes)-1].object {
				plain = false
			}
			i += len("null")
		case c == 't' || c == 'f':
			items++
			i += len("true") // and the rest of false is skipped as white space is
		case c == '-' || c >= '0' && c <= '9':
			items++
			end, digits := numberEnd(data, i)
			if digits >= 16 {
				plain = false
			}
			i = end
		default: // white space, ',', ':'
			i++
		}
	}
	return plain, items
}

// newPlainName reports whether name, the next name of an object whose names so far are before,
// in data that goes into a value with fields, leaves the object plain (scanData).
func newPlainName(before [][]byte, name []byte, fields fieldNames) bool {
	if bytes.IndexByte(name, '\\') >= 0 || len(before) == maxPlainNames || fields.inAnotherCase(name) {
		return false
	}
	for _, n := range before {
		if bytes.Equal(n, name) {
			return false
		}
	}
	return true
}

// stringEnd returns the index just past the JSON string that begins at data[i] ('"').
func stringEnd(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(data)
}

// isName reports whether the string that ends before data[end] is an object's name: a ':'
// follows it.
func isName(data []byte, end int) bool {
	for ; end < len(data); end++ {
		switch data[end] {
		case ' ', '\t', '\n', '\r':
		default:
			return data[end] == ':'
		}
	}
	return false
}

// numberEnd returns the index just past the JSON number that begins at data[i], and the count
// of its digits when it is an integer (no fraction or exponent), else 0.
func numberEnd(data []byte, i int) (end, digits int) {
	integer := true
	for end = i; end < len(data); end++ {
		switch c := data[end]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' || c == 'e' || c == 'E':
			integer = false
		case c == '-' || c == '+':
		default:
			if !integer {
				return end, 0
			}
			return end, digits
		}
	}
	if !integer {
		return end, 0
	}
	return end, digits
}
