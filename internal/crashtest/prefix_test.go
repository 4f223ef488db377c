package crashtest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func w(k string, v int) Write[int] { return Write[int]{Key: k, Value: v} }

func del(k string) Write[int] { return Write[int]{Key: k, Delete: true} }

func TestCheck(t *testing.T) {
	h := []Txn[int]{
		{Writes: []Write[int]{w("a", 1), w("b", 1)}, TS: 1, Outcome: Acked},
		{Writes: []Write[int]{w("a", 2), del("b")}, TS: 2, Outcome: Acked},
		{Writes: []Write[int]{w("c", 3)}, Outcome: Unknown},                   // may hold ts 3
		{Writes: []Write[int]{w("a", 4), w("c", 4)}, TS: 4, Outcome: Unknown}, // reported ts, then failed
		{Writes: []Write[int]{w("z", 9)}, Outcome: Aborted},
	}
	for _, tc := range []struct {
		name string
		t    uint64
		got  map[string]int
		full bool
		ok   bool
	}{
		{"empty prefix relaxed", 0, map[string]int{}, false, true},
		{"empty prefix full loses acks", 0, map[string]int{}, true, false},
		{"after 1", 1, map[string]int{"a": 1, "b": 1}, false, true},
		{"after 2 delete applied", 2, map[string]int{"a": 2}, true, true},
		{"delete not applied", 2, map[string]int{"a": 2, "b": 1}, true, false},
		{"partial txn", 1, map[string]int{"a": 1}, false, false},
		{"unknown fills gap", 3, map[string]int{"a": 2, "c": 3}, true, true},
		{"gap filled wrongly", 3, map[string]int{"a": 2}, true, false},
		{"through 4", 4, map[string]int{"a": 4, "c": 4}, true, true},
		{"beyond every txn", 5, map[string]int{"a": 4, "c": 4}, true, false},
		{"aborted txn present", 2, map[string]int{"a": 2, "z": 9}, true, false},
		{"later without earlier", 2, map[string]int{"a": 4, "c": 4}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(h, tc.t, tc.got, tc.full)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

func TestCheckDuplicateTS(t *testing.T) {
	h := []Txn[int]{
		{Writes: []Write[int]{w("a", 1)}, TS: 1, Outcome: Acked},
		{Writes: []Write[int]{w("a", 2)}, TS: 1, Outcome: Acked},
	}
	require.ErrorContains(t, Check(h, 1, map[string]int{"a": 2}, true), "both have commit timestamp")
}
