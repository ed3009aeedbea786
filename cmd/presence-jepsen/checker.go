package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// regInput and regOutput are a register operation as porcupine sees it.
type regInput struct {
	User  string
	Write bool
	Value string
}

type regOutput struct {
	Value   string
	Unknown bool // a write that may or may not have happened
}

// registerModel is one register per user: a PUT writes its status_msg, a
// consistent GET must read the value of the last write linearized before it.
// "" is the state before any write.
var registerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byUser := map[string][]porcupine.Operation{}
		var users []string
		for _, o := range h {
			u := o.Input.(regInput).User
			if _, ok := byUser[u]; !ok {
				users = append(users, u)
			}
			byUser[u] = append(byUser[u], o)
		}
		sort.Strings(users)
		out := make([][]porcupine.Operation, 0, len(users))
		for _, u := range users {
			out = append(out, byUser[u])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		if in.Write {
			return true, in.Value
		}
		return output.(regOutput).Value == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		if in.Write {
			if out.Unknown {
				return fmt.Sprintf("put(%q)?", in.Value)
			}
			return fmt.Sprintf("put(%q)", in.Value)
		}
		return fmt.Sprintf("get() -> %q", out.Value)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

// porcupineOps turns a history into porcupine operations: acknowledged PUTs,
// unknown PUTs (returning at the end of the history, so they may take effect
// at any time after their call or not at all) and answered consistent GETs,
// final reads included. Failed PUTs and unanswered GETs are left out. An
// unknown PUT whose value nobody read is left out too: overwritten or never
// applied, it cannot change what any read may return, and it would only
// widen the checker's search.
func porcupineOps(ops []op) []porcupine.Operation {
	read := map[string]bool{}
	var end int64
	for _, o := range ops {
		end = max(end, o.Return, o.Call)
		if o.Kind != opPut && o.Status == statusOK {
			read[o.User+"\x00"+o.Value] = true
		}
	}
	var out []porcupine.Operation
	for _, o := range ops {
		switch {
		case o.Kind == opPut && o.Status == statusOK:
			out = append(out, porcupine.Operation{ClientId: o.Client, Call: o.Call, Return: o.Return,
				Input: regInput{User: o.User, Write: true, Value: o.Value}, Output: regOutput{}})
		case o.Kind == opPut && o.Status == statusUnknown && read[o.User+"\x00"+o.Value]:
			out = append(out, porcupine.Operation{ClientId: o.Client, Call: o.Call, Return: end + 1,
				Input: regInput{User: o.User, Write: true, Value: o.Value}, Output: regOutput{Unknown: true}})
		case (o.Kind == opGet || o.Kind == opFinal) && o.Status == statusOK:
			out = append(out, porcupine.Operation{ClientId: o.Client, Call: o.Call, Return: o.Return,
				Input: regInput{User: o.User}, Output: regOutput{Value: o.Value}})
		}
	}
	return out
}

// verdict is what the checks found in one history.
type verdict struct {
	Linearizable porcupine.CheckResult
	// BadUsers are the users whose history is not linearizable.
	BadUsers []string
	// AckedLost counts acknowledged PUTs that a node's final state does not
	// reflect: the final value is none, or was written by a PUT that had
	// completed before the acknowledged one began.
	AckedLost int
	// Diverged counts users whose final value differs between nodes.
	Diverged int
	// RYWViolations counts plain reads on the acknowledging node that
	// returned something older than the client's own acknowledged PUT.
	RYWViolations int
	Details       []string
	info          porcupine.LinearizationInfo
}

func (v verdict) ok() bool {
	return v.Linearizable == porcupine.Ok && v.AckedLost == 0 && v.Diverged == 0 && v.RYWViolations == 0
}

// check runs every check on ops; timeout bounds porcupine's search.
func check(ops []op, timeout time.Duration) verdict {
	var v verdict
	pops := porcupineOps(ops)
	v.Linearizable, v.info = porcupine.CheckOperationsVerbose(registerModel, pops, timeout)
	if v.Linearizable != porcupine.Ok {
		for _, part := range registerModel.Partition(pops) {
			if r := porcupine.CheckOperationsTimeout(registerModel, part, timeout); r != porcupine.Ok {
				u := part[0].Input.(regInput).User
				v.BadUsers = append(v.BadUsers, u)
				v.Details = append(v.Details, fmt.Sprintf("%s: linearizability %s", u, r))
			}
		}
	}
	writers := map[string]op{} // user+value -> the PUT that wrote it
	for _, o := range ops {
		if o.Kind == opPut {
			writers[o.User+"\x00"+o.Value] = o
		}
	}
	// olderThan reports whether the value read was written by a PUT that
	// completed before w began (or by nobody), so that reading it after w
	// was acknowledged misses w.
	olderThan := func(read string, w op) bool {
		if read == w.Value {
			return false
		}
		p, ok := writers[w.User+"\x00"+read]
		return read == "" || !ok || (p.Status == statusOK && p.Return < w.Call)
	}
	finals := map[string]map[int]string{} // user -> node -> final value
	for _, o := range ops {
		if o.Kind == opFinal && o.Status == statusOK {
			if finals[o.User] == nil {
				finals[o.User] = map[int]string{}
			}
			finals[o.User][o.Node] = o.Value
		}
	}
	for user, byNode := range finals {
		seen := map[string]bool{}
		for _, val := range byNode {
			seen[val] = true
		}
		if len(seen) > 1 {
			v.Diverged++
			v.Details = append(v.Details, fmt.Sprintf("%s: nodes end in different states %v", user, byNode))
		}
	}
	for _, w := range ops {
		if w.Kind != opPut || w.Status != statusOK {
			continue
		}
		byNode, ok := finals[w.User]
		if !ok {
			v.AckedLost++
			v.Details = append(v.Details, fmt.Sprintf("%s: acknowledged put %q (op %d) and no final read", w.User, w.Value, w.ID))
			continue
		}
		for node, val := range byNode {
			if olderThan(val, w) {
				v.AckedLost++
				v.Details = append(v.Details, fmt.Sprintf("%s: acknowledged put %q (op %d) missing on node %d, which ends at %q",
					w.User, w.Value, w.ID, node, val))
				break
			}
		}
	}
	byID := map[int]op{}
	for _, o := range ops {
		byID[o.ID] = o
	}
	for _, r := range ops {
		if r.Kind != opRYW || r.Status != statusOK {
			continue
		}
		if w, ok := byID[r.After]; ok && olderThan(r.Value, w) {
			v.RYWViolations++
			v.Details = append(v.Details, fmt.Sprintf("%s: read-your-writes on node %d returned %q after put %q (op %d)",
				r.User, r.Node, r.Value, w.Value, w.ID))
		}
	}
	return v
}

// visualize writes porcupine's HTML view of the last check to path.
func (v verdict) visualize(path string) error {
	return porcupine.VisualizePath(registerModel, v.info, path)
}
