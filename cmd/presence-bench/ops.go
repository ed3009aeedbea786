package main

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// getOp reads a uniformly random user's presence.
func getOp(s *service) op {
	return func(w *worker) (int, error) {
		i := w.rnd.IntN(s.users())
		status, _, err := w.conn.get(s.paths[i], s.getToken)
		return kindGET, statusErr(status, err)
	}
}

// putOp sets a random user of the connection's own share of the users
// (user i belongs to connection i mod conns) to online with a status
// message that is unique to the update, and keeps it as the user's last
// message once it is answered 200.
func putOp(s *service, conns int) op {
	return putOpFrom(s, conns, 0)
}

// putOpFrom is putOp over the users from first on.

func putOpFrom(s *service, conns, first int) op {
	return func(w *worker) (int, error) {
		share := (s.users() - first - w.id + conns - 1) / conns
		if share <= 0 {
			return kindPUT, fmt.Errorf("connection %d has no users", w.id)
		}
		i := first + w.id + conns*w.rnd.IntN(share)
		w.seq++
		msg := "c" + strconv.Itoa(w.id) + "-" + strconv.FormatUint(w.seq, 10)
		status, _, err := w.conn.put(s.paths[i], s.token(i), putBody(msg))
		if err = statusErr(status, err); err == nil {
			s.lastMsg[i], s.lastAt[i] = msg, time.Now()
		}
		return kindPUT, err
	}
}

// mixOp sends a GET with probability 1-putShare and a PUT otherwise.
func mixOp(s *service, conns int, putShare float64) op {
	get, put := getOp(s), putOp(s, conns)
	return func(w *worker) (int, error) {
		if w.rnd.Float64() < putShare {
			return put(w)
		}
		return get(w)
	}
}

func putBody(msg string) []byte {
	return []byte(`{"presence":"online","status_msg":"` + msg + `"}`)
}

// shows reports whether a GET body holds status message msg.
func shows(body []byte, msg string) bool {
	return bytes.Contains(body, []byte(`"status_msg":"`+msg+`"`))
}

func statusErr(status int, err error) error {
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("status %d", status)
	}
	return nil
}
