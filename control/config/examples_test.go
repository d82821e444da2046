package config

// The example configurations of the README and of docs/: every complete
// one (a ```yaml block whose first line is "node: ...") must be a file
// that `director validate` accepts, so that no document shows a
// configuration the director refuses.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docExample is one complete example configuration of a document.
type docExample struct {
	file string
	line int // of the block's first line
	text string
}

// docExamples returns the complete example configurations of file.
func docExamples(t testing.TB, file string) []docExample {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []docExample
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```yaml" {
			continue
		}
		start := i + 1
		end := start
		for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
			end++
		}
		if start < len(lines) && strings.HasPrefix(lines[start], "node:") {
			out = append(out, docExample{file: file, line: start + 1, text: strings.Join(lines[start:end], "\n") + "\n"})
		}
		i = end
	}
	return out
}

func TestConfigDocExamples(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := filepath.Join("..", "..", "README.md")
	counts := map[bool]int{} // by "is the README"
	for _, file := range append([]string{readme}, docs...) {
		for _, ex := range docExamples(t, file) {
			counts[file == readme]++
			// Blank lines in front keep the problems' lines the file's.
			if _, err := Parse(file, []byte(strings.Repeat("\n", ex.line-1)+ex.text)); err != nil {
				t.Errorf("the example at %s:%d is refused:\n%v", file, ex.line, err)
			}
		}
	}
	// Guard against a test that checks nothing (blocks renamed, files
	// moved).
	if counts[true] < 1 || counts[false] < 5 {
		t.Errorf("found %d complete examples in the README and %d in docs/, want at least 1 and 5", counts[true], counts[false])
	}
}
