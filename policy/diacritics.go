package policy

import "strings"

// diacriticGroups maps letters with diacritics to their plain form,
// following the table of Entra's NormalizeDiacritics (Latin-1 Supplement,
// Latin Extended-A and the precomposed letters it lists). Combining marks
// (U+0300..U+036F) that follow a letter are dropped, which covers the
// table's decomposed sequences such as "ā́".
var diacriticGroups = map[string]string{
	"äàâãåáąăāǟǡ": "a", "ÄÀÂÃÅÁĄĂĀǞǠ": "A",
	"æǣ": "ae", "ÆǢ": "AE",
	"çčćĉċ": "c", "ÇČĆĈĊ": "C",
	"ďđḏ": "d", "ĎĐḎ": "D",
	"ëèéêęěėēĕḗḕ": "e", "ËÈÉÊĘĚĖĒĔḖḔ": "E",
	"ğĝġģḡ": "g", "ĞĜĠĢḠ": "G",
	"ĥħ": "h", "ĤĦ": "H",
	"ïîìíıīĩĭį": "i", "ÏÎÌÍİĪĨĬĮ": "I",
	"ĵ": "j", "Ĵ": "J",
	"ķ": "k", "Ķ": "K",
	"ľłĺļŀḹḻ": "l", "ŁĽĹĻĿḸḺ": "L",
	"ñńňņṉ": "n", "ÑŃŇŅṈ": "N",
	"öòőõôóōŏṓṑȫǭȭȱ": "o", "ÖÒŐÕÔÓŌŎṒṐȪǬȬȰ": "O",
	"øœ": "oe", "ØŒ": "OE",
	"řŕŗṟṝ": "r", "ŘŔŖṞṜ": "R",
	"ß":     "ss",
	"šśșşŝ": "s", "ŠŚȘŞŜ": "S",
	"ťțţŧṯ": "t", "ŤȚŢŦṮ": "T",
	"üùûúůűūũŭųǖṻ": "u", "ÜÙÛÚŮŰŪŨŬŲǕṺ": "U",
	"ŵ": "w", "Ŵ": "W",
	"ÿýȳŷ": "y", "ŸÝȲŶ": "Y",
	"źžżẕ": "z", "ŹŽŻẔ": "Z",
}

var diacritics = func() map[rune]string {
	m := map[rune]string{}
	for from, to := range diacriticGroups {
		for _, r := range from {
			m[r] = to
		}
	}
	return m
}()

// normalizeDiacritics replaces letters with diacritics by plain ones.
func normalizeDiacritics(s string) string {
	plain := true
	for _, r := range s {
		if r >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r >= 0x300 && r <= 0x36f {
			continue
		}
		if to, ok := diacritics[r]; ok {
			b.WriteString(to)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
