// Package run gives wgtensor's example programs their shared command line
// and training experience: the common flags, one-line errors with exit
// status 2, a progress bar (or plain periodic lines when stdout is not a
// terminal), Ctrl-C handling, checkpoints, loss and accuracy plots and a
// final summary line.
package run

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/nn"
	"github.com/wgtensor/wgtensor/tensor"
)

// Flags are the flags every example takes.
type Flags struct {
	Device string
	Epochs int
	Seed   uint64
	Quick  bool
	Save   string
	Load   string
	Plot   string
	Data   string
}

// Register adds the common flags to fs with the example's default number of
// epochs.
func Register(fs *flag.FlagSet, epochs int) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Device, "device", "auto", "where to run: cpu, gpu or auto (the GPU when a hardware one answers, else the CPU)")
	fs.IntVar(&f.Epochs, "epochs", epochs, "passes over the training data (0: evaluate a -load checkpoint only)")
	fs.Uint64Var(&f.Seed, "seed", 1, "seed for initialisation, shuffling and sampling")
	fs.BoolVar(&f.Quick, "quick", false, "a short run that checks its own accuracy threshold (for CI)")
	fs.StringVar(&f.Save, "save", "", "write the trained model to this safetensors file (also on Ctrl-C)")
	fs.StringVar(&f.Load, "load", "", "start from the model in this safetensors file")
	fs.StringVar(&f.Plot, "plot", "", "write loss and accuracy curves to this PNG file")
	fs.StringVar(&f.Data, "data", "", "directory holding the dataset files (default: where they are installed)")
	return f
}

// IsSet reports whether the flag name was given on the command line.
func IsSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// UsageError is a problem with the command line or the inputs it names: the
// program prints it on one line and exits with status 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{fmt.Errorf(format, args...)}
}

// Main parses the flags of a program and runs body. A UsageError (or a flag
// error) is printed as one line on stderr with exit status 2; any other
// error with status 1; a misuse panic of the library becomes a one-line
// error too, never a stack trace.
func Main(name string, fs *flag.FlagSet, body func() error) {
	os.Exit(mainStatus(name, fs, os.Args[1:], os.Stderr, body))
}

func mainStatus(name string, fs *flag.FlagSet, args []string, stderr io.Writer, body func() error) (status int) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v (run with -h for the flags)\n", name, err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q (run with -h for the flags)\n", name, fs.Arg(0))
		return 2
	}
	err := callBody(body)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	var ue *UsageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// callBody runs body, turning a misuse panic of the library (a
// *tensor.Error) into an error so that it prints as one line.
func callBody(body func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			te, ok := r.(*tensor.Error)
			if !ok {
				panic(r)
			}
			err = te
		}
	}()
	return body()
}

// OpenDevice opens the device a -device flag names and prints which one it
// took.
func OpenDevice(name string, out io.Writer) (device.Device, error) {
	dev, note, err := device.Parse(name)
	if err != nil {
		if strings.Contains(err.Error(), "unknown device") {
			return nil, Usagef("unknown -device %q: want cpu, gpu or auto", name)
		}
		return nil, &UsageError{err}
	}
	if note != "" {
		fmt.Fprintln(out, note)
	}
	fmt.Fprintf(out, "device: %s\n", dev.Name())
	return dev, nil
}

// LoadModel loads a -load checkpoint into model, turning failures into
// one-line usage errors that say what was wrong; what names the model.
func LoadModel(path string, model any, what string) error {
	if _, err := os.Stat(path); err != nil {
		return Usagef("-load: cannot read %s: %v", path, errors.Unwrap(err))
	}
	if err := nn.Load(path, model); err != nil {
		return Usagef("-load: %s is not a checkpoint of the %s: %v", path, what, err)
	}
	fmt.Println("loaded", path)
	return nil
}

// DataError turns a failure to load a dataset into a usage error that says
// what to do about it.
func DataError(dataFlag string, err error) error {
	if dataFlag != "" {
		return Usagef("-data %s: %v (point -data at a folder with the dataset files, or omit it to use the installed copy)", dataFlag, err)
	}
	return &UsageError{err}
}

// Interrupt returns a flag that becomes true on the first Ctrl-C, so a
// training loop can stop cleanly (and save); a second Ctrl-C exits at once.
func Interrupt() *atomic.Bool {
	var stop atomic.Bool
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt)
	go func() {
		<-ch
		fmt.Fprintln(os.Stderr, "\ninterrupted: stopping after this step (Ctrl-C again to quit now)")
		stop.Store(true)
		<-ch
		os.Exit(130)
	}()
	return &stop
}

// Summary prints the final line of a run.
func Summary(out io.Writer, dev device.Device, epochs int, wall time.Duration, metrics ...string) {
	fmt.Fprintf(out, "summary: device=%q epochs=%d wall=%s %s\n", dev.Name(), epochs, wall.Round(100*time.Millisecond), strings.Join(metrics, " "))
}

// AtLeast checks a quick run's result: it returns an error (exit status 1)
// when got is below want.
func AtLeast(what string, got, want float64) error {
	if !(got >= want) { // NaN fails too
		return fmt.Errorf("quick check failed: %s %.4g is below the threshold %.4g", what, got, want)
	}
	fmt.Printf("quick check passed: %s %.4g >= %.4g\n", what, got, want)
	return nil
}

// AtMost checks a quick run's result: it returns an error (exit status 1)
// when got is above limit.
func AtMost(what string, got, limit float64) error {
	if !(got <= limit) { // NaN fails too
		return fmt.Errorf("quick check failed: %s %.4g is above the limit %.4g", what, got, limit)
	}
	fmt.Printf("quick check passed: %s %.4g <= %.4g\n", what, got, limit)
	return nil
}
