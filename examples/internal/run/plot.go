package run

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Curve is one named series of values, one per epoch.
type Curve struct {
	Name   string
	Values []float64
}

// Plot writes the curves to a PNG file: losses in the top panel and
// accuracies in the bottom one.
func Plot(path, title string, losses, accuracies []Curve) error {
	colors := []color.RGBA{{R: 31, G: 119, B: 180, A: 255}, {R: 255, G: 127, B: 14, A: 255}, {R: 44, G: 160, B: 44, A: 255}, {R: 214, G: 39, B: 40, A: 255}}
	panel := func(name string, curves []Curve, legendTop bool) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title + ": " + name
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = name
		p.Add(plotter.NewGrid())
		p.Legend.Top = legendTop // losses fall, accuracies rise: keep the legend off the curves' end
		for i, c := range curves {
			pts := make(plotter.XYs, len(c.Values))
			for k, v := range c.Values {
				pts[k] = plotter.XY{X: float64(k + 1), Y: v}
			}
			line, points, err := plotter.NewLinePoints(pts)
			if err != nil {
				return nil, err
			}
			line.Color = colors[i%len(colors)]
			points.Color = line.Color
			p.Add(line, points)
			p.Legend.Add(c.Name, line)
		}
		return p, nil
	}
	top, err := panel("loss", losses, true)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	bottom, err := panel("accuracy", accuracies, false)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	plots := [][]*plot.Plot{{top}}
	if len(accuracies) > 0 {
		plots = append(plots, []*plot.Plot{bottom})
	}
	img := vg.Length(16) * vg.Centimeter
	c := newCanvas(img, img*vg.Length(len(plots))/2)
	drawTable(c, plots)
	return savePNG(path, c)
}

func newCanvas(w, h vg.Length) *vgimg.Canvas { return vgimg.New(w, h) }

// drawTable draws plots stacked in rows on c.
func drawTable(c *vgimg.Canvas, plots [][]*plot.Plot) {
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter, PadY: 3 * vg.Millimeter}
	canvases := plot.Align(plots, tiles, draw.New(c))
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
}

func savePNG(path string, c *vgimg.Canvas) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return f.Close()
}
