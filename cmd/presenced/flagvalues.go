package main

import (
	"flag"
	"fmt"
	"time"
)

// explainValues wraps the duration and number flags of fs so that an invalid
// value fails with a message that says what is wanted. The standard flag
// values only say "parse error", whichever source (command line,
// environment, config file) the value came from.
func explainValues(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok {
			return
		}
		switch g.Get().(type) {
		case time.Duration:
			f.Value = &explained{g, "a duration with a unit, such as 30s, 5m or 1h"}
			f.Usage += " (a `duration`)"
		case int, int64, uint, uint64:
			f.Value = &explained{g, "a whole number"}
			f.Usage += " (an `integer`)"
		}
	})
}

// explained is a flag value whose Set errors name the value and what is wanted.
type explained struct {
	flag.Getter
	want string
}

func (e *explained) Set(v string) error {
	if err := e.Getter.Set(v); err != nil {
		return fmt.Errorf("%q is not %s", v, e.want)
	}
	return nil
}

// String is also called on a zero explained, to print defaults in the help.
func (e *explained) String() string {
	if e.Getter == nil {
		return ""
	}
	return e.Getter.String()
}
