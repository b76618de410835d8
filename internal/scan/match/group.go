package match

// groupByAlias merges hits that share an id or alias (union-find), so a
// GO- record and the GHSA and CVE it aliases become one finding. Groups
// keep the order of their first hit.
func groupByAlias(hits []hit) [][]hit {
	parent := make([]int, len(hits))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{}
	for i, h := range hits {
		for _, id := range h.adv.IDs() {
			if j, ok := owner[id]; ok {
				ri, rj := find(i), find(j)
				if ri != rj {
					if ri < rj {
						parent[rj] = ri
					} else {
						parent[ri] = rj
					}
				}
			} else {
				owner[id] = i
			}
		}
	}
	idx := map[int]int{}
	var out [][]hit
	for i, h := range hits {
		r := find(i)
		g, ok := idx[r]
		if !ok {
			g = len(out)
			idx[r] = g
			out = append(out, nil)
		}
		out[g] = append(out[g], h)
	}
	return out
}
