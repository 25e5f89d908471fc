package test

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// figure is a measured number as written: 2.89, 294,499, 0.41. Version
// numbers (1.26.8) and numbers inside words or dates are not figures.
var figure = regexp.MustCompile(`(?:^|[^\w.,:/-])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+)(?:[^\w.:/-]|[.,:](?:\s|$)|$)`)

// anyNumber is any number BENCHMARKS.md gives (1201 ns/op is a figure there).
var anyNumber = regexp.MustCompile(`\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?`)

// TestREADMEFiguresFromBenchmarks keeps the README's performance figures
// those of the latest benchmark run: every figure (a number with a decimal
// point or a thousands separator) in the README's Performance summary and
// in its Benchmarks section is one that BENCHMARKS.md holds, as written or
// rounded to the decimals the README gives (a time in ns may be given in
// µs, ms in s, and so on: a factor of 1000 either way).
func TestREADMEFiguresFromBenchmarks(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	bench, err := os.ReadFile("../BENCHMARKS.md")
	if err != nil {
		t.Fatal(err)
	}
	var measured []float64
	for _, m := range anyNumber.FindAllString(string(bench), -1) {
		if v, err := strconv.ParseFloat(strings.ReplaceAll(m, ",", ""), 64); err == nil {
			measured = append(measured, v)
		}
	}
	parts := map[string]string{
		"the Performance summary":   between(t, string(readme), "- **Performance**:", "\n- **"),
		"the Benchmarks section":    between(t, string(readme), "\n## Benchmarks\n", "\n## "),
		"the Status section's line": between(t, string(readme), "\n## Status\n", "\n## "),
	}
	checked := 0
	for where, text := range parts {
		for _, f := range figures(text) {
			checked++
			if !inBenchmarks(f, measured) {
				t.Errorf("%s gives %s, which BENCHMARKS.md does not hold (…%s…)", where, f.text, f.context)
			}
		}
	}
	if checked < 40 {
		t.Fatalf("only %d figures found in the README: the pattern no longer matches", checked)
	}
}

type figureText struct {
	text, context string
	value         float64
	decimals      int
}

func figures(s string) []figureText {
	var out []figureText
	for _, m := range figure.FindAllStringSubmatchIndex(s, -1) {
		text := s[m[2]:m[3]]
		if strings.Count(text, ".") > 1 {
			continue
		}
		v, err := strconv.ParseFloat(strings.ReplaceAll(text, ",", ""), 64)
		if err != nil {
			continue
		}
		dec := 0
		if i := strings.IndexByte(text, '.'); i >= 0 {
			dec = len(text) - i - 1
		}
		lo, hi := max(0, m[2]-30), min(len(s), m[3]+30)
		out = append(out, figureText{text: text, value: v, decimals: dec, context: strings.ReplaceAll(s[lo:hi], "\n", " ")})
	}
	return out
}

// inBenchmarks reports whether f is one of the measured values, rounded to
// f's decimals, in the same unit or a factor of 1000 away.
func inBenchmarks(f figureText, measured []float64) bool {
	p := math.Pow(10, float64(f.decimals))
	for _, m := range measured {
		for _, scale := range []float64{1, 1e-3, 1e3} {
			if math.Round(m*scale*p) == math.Round(f.value*p) {
				return true
			}
		}
	}
	return false
}

// between returns the text of s from the first start to the next end after
// it.
func between(t *testing.T, s, start, end string) string {
	t.Helper()
	i := strings.Index(s, start)
	if i < 0 {
		t.Fatalf("README.md has no %q", start)
	}
	rest := s[i+len(start):]
	if j := strings.Index(rest, end); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
