package secrets

// matcher is an Aho-Corasick automaton over lower-case ASCII keywords,
// compiled to a dense DFA so scanning is one table lookup per byte.
// Input bytes are folded to lower case, making matching case-insensitive.
type matcher struct {
	next [][256]int32
	// out lists, per state, the keywords ending there (including those
	// reachable through failure links).
	out [][]hit
}

// hit is a keyword of a rule.
type hit struct {
	rule, length int
}

var lowerASCII = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

// newMatcher builds the automaton; keywords[i] are the keywords of rule i.
func newMatcher(keywords [][]string) *matcher {
	type node struct {
		child map[byte]int32
		fail  int32
		out   []hit
	}
	nodes := []node{{child: map[byte]int32{}}}
	for rule, kws := range keywords {
		for _, kw := range kws {
			s := int32(0)
			for i := 0; i < len(kw); i++ {
				c := lowerASCII[kw[i]]
				nx, ok := nodes[s].child[c]
				if !ok {
					nx = int32(len(nodes))
					nodes = append(nodes, node{child: map[byte]int32{}})
					nodes[s].child[c] = nx
				}
				s = nx
			}
			nodes[s].out = appendUnique(nodes[s].out, hit{rule, len(kw)})
		}
	}
	m := &matcher{next: make([][256]int32, len(nodes)), out: make([][]hit, len(nodes))}
	// Breadth-first: a node's failure state is final before its children.
	queue := []int32{}
	for c := 0; c < 256; c++ {
		if nx, ok := nodes[0].child[byte(c)]; ok {
			m.next[0][c] = nx
			queue = append(queue, nx)
		}
	}
	m.out[0] = nodes[0].out
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := nodes[s].fail
		m.out[s] = nodes[s].out
		for _, r := range m.out[f] {
			m.out[s] = appendUnique(m.out[s], r)
		}
		for c := 0; c < 256; c++ {
			if nx, ok := nodes[s].child[byte(c)]; ok {
				nodes[nx].fail = m.next[f][c]
				m.next[s][c] = nx
				queue = append(queue, nx)
			} else {
				m.next[s][c] = m.next[f][c]
			}
		}
	}
	// Folding happens on input, so upper-case transitions mirror lower.
	for s := range m.next {
		for c := 'A'; c <= 'Z'; c++ {
			m.next[s][c] = m.next[s][c+'a'-'A']
		}
	}
	return m
}

func appendUnique(s []hit, v hit) []hit {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// scan calls found for every occurrence of a rule's keyword in b, with the
// keyword's offsets.
func (m *matcher) scan(b []byte, found func(rule, start, end int)) {
	s := int32(0)
	next, out := m.next, m.out
	for i, c := range b {
		s = next[s][c]
		if o := out[s]; o != nil {
			for _, h := range o {
				found(h.rule, i+1-h.length, i+1)
			}
		}
	}
}
