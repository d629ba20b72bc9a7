package tensor

import (
	"errors"
	"fmt"
)

// Error is the value of the panics that report a misuse of the package:
// shapes that do not fit, mismatched dtypes or devices, axes out of range.
// Maybe turns them into ordinary errors.
type Error struct {
	Op  string // the operation, such as "MatMul"
	Msg string // what was wrong, naming the shapes involved
}

// Error returns "tensor: Op: Msg".
func (e *Error) Error() string { return "tensor: " + e.Op + ": " + e.Msg }

// panicf panics with an *Error for op.
func panicf(op, format string, args ...any) {
	panic(&Error{Op: op, Msg: fmt.Sprintf(format, args...)})
}

// Maybe runs f and returns the *Error it panics with, if any, as an error;
// other panics pass through. It is for callers who prefer errors to panics:
//
//	err := tensor.Maybe(func() { y = a.MatMul(b) })
func Maybe(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(*Error)
			if !ok {
				panic(r)
			}
			err = e
		}
	}()
	f()
	return nil
}

// ErrReleased is the error of a tensor whose memory was given back with
// Release, and of every result computed from it.
var ErrReleased = errors.New("tensor: use of a released tensor")
