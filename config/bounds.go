package config

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Bounds on what reaches the HCL parser. Its parser and evaluator recurse
// once per nesting level and per operator, and a deep enough file (tens of
// thousands of "[" or "!") overflows the Go stack, a crash no recover can
// catch. A pinlb configuration is a few kilobytes of literal values, three
// or four levels deep: these bounds are far above any real one.
const (
	// MaxFileSize is the largest configuration file pinlb reads.
	MaxFileSize = 256 << 10
	// MaxNesting is the deepest nesting of brackets, braces, parentheses,
	// strings and template sequences in a file.
	MaxNesting = 64
	// MaxOperators is the most operators (!, -, +, &&, ? and the others)
	// one native-syntax file may hold.
	MaxOperators = 1000
)

// checkBounds reports, before anything is parsed, a source the parser must
// not see: too deep, or with too many operators. The size is checked where
// files are read.
func checkBounds(src Source, json bool) *hcl.Diagnostic {
	if json {
		return checkJSONNesting(src)
	}
	return checkNativeBounds(src)
}

// checkNativeBounds lexes an HCL native-syntax source, which the lexer does
// without recursion, and measures its nesting and operators on the tokens,
// so that comments, strings and heredocs count for what they are.
func checkNativeBounds(src Source) *hcl.Diagnostic {
	toks, _ := hclsyntax.LexConfig(src.Data, src.Name, hcl.InitialPos) // what it cannot lex, the parser reports
	depth, directives, operators := 0, 0, 0
	for i, tok := range toks {
		switch tok.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenOQuote,
			hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			depth++
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenCQuote,
			hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			depth = max(0, depth-1)
		case hclsyntax.TokenIdent:
			// Template directives nest too: %{ if } ... %{ endif }.
			if i > 0 && toks[i-1].Type == hclsyntax.TokenTemplateControl {
				switch string(tok.Bytes) {
				case "if", "for":
					directives++
				case "endif", "endfor":
					directives = max(0, directives-1)
				}
			}
		case hclsyntax.TokenBang, hclsyntax.TokenMinus, hclsyntax.TokenPlus, hclsyntax.TokenStar,
			hclsyntax.TokenSlash, hclsyntax.TokenPercent, hclsyntax.TokenAnd, hclsyntax.TokenOr,
			hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual, hclsyntax.TokenLessThan,
			hclsyntax.TokenLessThanEq, hclsyntax.TokenGreaterThan, hclsyntax.TokenGreaterThanEq,
			hclsyntax.TokenQuestion:
			if operators++; operators > MaxOperators {
				return boundError(tok.Range, "Too many operators",
					fmt.Sprintf("a file may hold at most %d operators (!, -, +, &&, ? ...); a pinlb configuration holds literal values", MaxOperators))
			}
		}
		if depth+directives > MaxNesting {
			return tooDeep(tok.Range)
		}
	}
	return nil
}

// checkJSONNesting measures the nesting of arrays and objects in a JSON
// source, outside its strings. The JSON parser reads strings as literals
// (pinlb evaluates with no context), so they cannot nest.
func checkJSONNesting(src Source) *hcl.Diagnostic {
	depth, inString, escaped := 0, false, false
	pos := hcl.InitialPos
	for i, c := range src.Data {
		switch {
		case inString && escaped:
			escaped = false
		case inString:
			escaped, inString = c == '\\', c != '"'
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > MaxNesting {
				at := hcl.Pos{Line: pos.Line, Column: pos.Column, Byte: i}
				return tooDeep(hcl.Range{Filename: src.Name, Start: at, End: hcl.Pos{Line: at.Line, Column: at.Column + 1, Byte: i + 1}})
			}
		case c == ']' || c == '}':
			depth = max(0, depth-1)
		}
		if c == '\n' {
			pos.Line, pos.Column = pos.Line+1, 1
		} else if c&0xC0 != 0x80 { // count characters, not UTF-8 continuation bytes
			pos.Column++
		}
	}
	return nil
}

func tooDeep(at hcl.Range) *hcl.Diagnostic {
	return boundError(at, "Nesting too deep",
		fmt.Sprintf("brackets, braces, parentheses and strings nest at most %d levels deep; a pinlb configuration needs a few", MaxNesting))
}

func boundError(at hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &at}
}

// fileTooLarge is the error for a file over MaxFileSize.
func fileTooLarge(name string, size int64) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Configuration file too large",
		Detail: fmt.Sprintf("%s is %s, over the %s limit; a pinlb configuration is a few kilobytes: is this the right file?",
			name, sizeString(size), sizeString(MaxFileSize)),
		Subject: &hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.InitialPos},
	}
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
