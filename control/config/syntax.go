package config

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// YAML syntax errors: yaml.v3's messages turned into a line and a reason,
// with the line corrected where the parser reports it one early, and found
// where it reports none.

// configParserProblems are the messages of yaml.v3's parser (parserc.go),
// as opposed to its scanner's: yaml.v3 prints the parser's zero-based
// line number as is, one less than the line meant.
var configParserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"found undefined tag handle",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// configReaderProblems are the messages of yaml.v3's reader (readerc.go)
// about UTF-8 input, which say nothing of where.
var configReaderProblems = []string{
	"invalid leading UTF-8 octet",
	"incomplete UTF-8 octet sequence",
	"invalid trailing UTF-8 octet",
	"invalid length of a UTF-8 sequence",
	"invalid Unicode character",
	"control characters are not allowed",
}

// configSyntaxError turns a yaml.v3 parse error into a line and a reason
// "yaml: message" without yaml's own "line N: ".
func configSyntaxError(data []byte, err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := configYAMLLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		if slices.Contains(configParserProblems, msg) {
			line++
		}
	} else if name, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		// The parser does not say where; find the alias.
		name, _, _ = strings.Cut(name, "'")
		if i := configFindAlias(data, name); i >= 0 {
			line = configLineAt(data, i)
		}
	} else if slices.Contains(configReaderProblems, msg) {
		// Errors of the reader carry no line; find the character.
		if i := configBadChar(data); i >= 0 {
			line = configLineAt(data, i)
		}
	}
	line = max(line, 1)
	if msg == "found character that cannot start any token" && configTabIndented(data, line) {
		msg += " (a tab: indent YAML with spaces)"
	}
	return line, "yaml: " + msg
}

// configFindAlias returns the offset of the first alias "*name", or -1.
func configFindAlias(data []byte, name string) int {
	for off := 0; ; {
		i := bytes.Index(data[off:], []byte("*"+name))
		if i < 0 {
			return -1
		}
		end := off + i + 1 + len(name)
		if end == len(data) || strings.ContainsRune(" \t\r\n,]}", rune(data[end])) {
			return off + i
		}
		off = end
	}
}

// configBadChar returns the offset of the first byte that is not valid
// UTF-8 or is a character YAML does not allow, or -1.
func configBadChar(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		ok := r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0x7e) || r == 0x85 ||
			(r >= 0xa0 && r <= 0xd7ff) || (r >= 0xe000 && r <= 0xfffd && (i <= 0 || r != 0xfeff)) ||
			(r >= 0x10000 && r <= 0x10ffff)
		if r == utf8.RuneError && size <= 1 || !ok {
			return i
		}
		i += size
	}
	return -1
}

// configLineAt returns the 1-based line of offset i.
func configLineAt(data []byte, i int) int { return bytes.Count(data[:i], []byte("\n")) + 1 }

// configTabIndented says whether line (1-based) starts with a tab after any
// spaces.
func configTabIndented(data []byte, line int) bool {
	lines := bytes.Split(data, []byte("\n"))
	if line > len(lines) {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(lines[line-1], " "), []byte("\t"))
}

// configEmptyDocument says whether doc is an empty document such as the
// one a trailing "---" opens.
func configEmptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Value == ""
}
