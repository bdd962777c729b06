//! The charts: SVG line plots over a run's seconds with each fault's span shaded, built so a
//! test can read them back (see the module comment of [`super`]).

use std::fmt::Write as _;

use super::Span;
use super::html::escape;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Scale {
    Linear,
    Log,
}

pub(super) struct Series {
    name: &'static str,
    color: &'static str,
    dashed: bool,
    /// (seconds since start, value)
    points: Vec<(f64, f64)>,
}

impl Series {
    pub(super) fn new(name: &'static str, color: &'static str, points: Vec<(f64, f64)>) -> Self {
        Series {
            name,
            color,
            dashed: false,
            points,
        }
    }

    pub(super) fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

pub(super) struct Chart {
    pub(super) id: &'static str,
    pub(super) title: &'static str,
    pub(super) scale: Scale,
    pub(super) series: Vec<Series>,
}

// The drawing area inside each chart's SVG, in pixels.
pub(super) const WIDTH: f64 = 1120.0;
pub(super) const HEIGHT: f64 = 250.0;
pub(super) const LEFT: f64 = 62.0;
pub(super) const RIGHT: f64 = 20.0;
pub(super) const TOP: f64 = 28.0;
pub(super) const BOTTOM: f64 = 30.0;

/// Pixel coordinates with two decimals: what the SVG says, and what a test recomputes.
pub fn px(v: f64) -> String {
    format!("{v:.2}")
}

/// Where a value goes on a chart's axes; the test in this module uses the same mapping.
#[derive(Debug, Clone, Copy)]
pub(super) struct Axes {
    px_per_s: f64,
    y_min: f64,
    y_max: f64,
    scale: Scale,
}

impl Axes {
    pub(super) fn x(&self, t: f64) -> f64 {
        LEFT + t * self.px_per_s
    }

    pub(super) fn y(&self, v: f64) -> f64 {
        let plot = HEIGHT - TOP - BOTTOM;
        let share = match self.scale {
            Scale::Linear => v / self.y_max,
            Scale::Log => {
                let v = v.max(self.y_min);
                (v.log10() - self.y_min.log10()) / (self.y_max.log10() - self.y_min.log10())
            }
        };
        HEIGHT - BOTTOM - share * plot
    }
}

impl Chart {
    pub(super) fn axes(&self, span: f64) -> Axes {
        let values = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1));
        let max = values.clone().fold(0.0, f64::max);
        let (y_min, y_max) = match self.scale {
            // Four grid steps of a round size, whole numbers at least (these are counts).
            Scale::Linear => (0.0, 4.0 * nice_ceiling((max / 4.0).max(1.0))),
            Scale::Log => {
                let min = values.filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
                let min = if min.is_finite() { min } else { 0.1 };
                (
                    10f64.powf(min.log10().floor()),
                    10f64.powf(max.max(min * 10.0).log10().ceil()),
                )
            }
        };
        Axes {
            px_per_s: (WIDTH - LEFT - RIGHT) / span,
            y_min,
            y_max,
            scale: self.scale,
        }
    }

    pub(super) fn svg(&self, out: &mut String, span: f64, faults: &[Span]) {
        let a = self.axes(span);
        let scale = match a.scale {
            Scale::Linear => "linear",
            Scale::Log => "log",
        };
        let _ = writeln!(
            out,
            "<svg class=\"chart\" id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" \
             height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" data-x0=\"{LEFT}\" \
             data-px-per-s=\"{pps}\" data-y0=\"{y0}\" data-height=\"{h}\" data-y-min=\"{ymin}\" \
             data-y-max=\"{ymax}\" data-y-scale=\"{scale}\">",
            id = self.id,
            pps = a.px_per_s,
            y0 = HEIGHT - BOTTOM,
            h = HEIGHT - TOP - BOTTOM,
            ymin = a.y_min,
            ymax = a.y_max,
        );
        self.grid(out, &a, span);
        for f in faults {
            let (start, end) = (
                f.start.as_secs_f64(),
                f.end.as_secs_f64().max(f.start.as_secs_f64()),
            );
            let (x, x_end) = (a.x(start.min(span)), a.x(end.min(span)));
            let _ = writeln!(
                out,
                "<rect class=\"fault\" data-label=\"{label}\" data-start=\"{start}\" data-end=\"{end}\" \
                 x=\"{x}\" y=\"{TOP}\" width=\"{w}\" height=\"{h}\"><title>{label}: {start:.3}-{end:.3} s</title></rect>\
                 <text class=\"fault\" x=\"{tx}\" y=\"{ty}\">{label}</text>",
                label = escape(&f.label),
                x = px(x),
                w = px(x_end - x),
                h = HEIGHT - TOP - BOTTOM,
                tx = px(x + 4.0),
                ty = TOP + 13.0,
            );
        }
        for s in &self.series {
            self.draw(out, &a, s);
        }
        self.legend(out);
        out.push_str("</svg>\n");
    }

    fn grid(&self, out: &mut String, a: &Axes, span: f64) {
        let (left, right, bottom) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM);
        let ticks: Vec<f64> = match a.scale {
            Scale::Linear => (0..=4).map(|i| a.y_max * i as f64 / 4.0).collect(),
            Scale::Log => {
                let decades = (a.y_max / a.y_min).log10().round() as i32;
                (0..=decades).map(|d| a.y_min * 10f64.powi(d)).collect()
            }
        };
        for v in ticks {
            let y = px(a.y(v));
            let _ = writeln!(
                out,
                "<line class=\"grid\" x1=\"{left}\" x2=\"{right}\" y1=\"{y}\" y2=\"{y}\"/>\
                 <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                left - 6.0,
                a.y(v) + 4.0,
                tick_label(v)
            );
        }
        let step = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0]
            .into_iter()
            .find(|step| span / step <= 20.0)
            .unwrap_or(1200.0);
        let mut t = 0.0;
        while t <= span + 1e-9 {
            let x = px(a.x(t));
            let _ = writeln!(
                out,
                "<line class=\"grid\" x1=\"{x}\" x2=\"{x}\" y1=\"{TOP}\" y2=\"{bottom}\"/>\
                 <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{t}</text>",
                bottom + 16.0
            );
            t += step;
        }
        let _ = writeln!(
            out,
            "<line class=\"axis\" x1=\"{left}\" x2=\"{right}\" y1=\"{bottom}\" y2=\"{bottom}\"/>\
             <line class=\"axis\" x1=\"{left}\" x2=\"{left}\" y1=\"{TOP}\" y2=\"{bottom}\"/>"
        );
    }

    /// The series as a line through its points, broken where a window has no value (a
    /// latency window nobody was answered in), with a dot on each point.
    fn draw(&self, out: &mut String, a: &Axes, s: &Series) {
        let dash = if s.dashed {
            " stroke-dasharray=\"5 4\""
        } else {
            ""
        };
        let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
        for &(t, v) in &s.points {
            match runs.last_mut() {
                Some(run) if run.last().is_some_and(|&(prev, _)| t - prev <= 1.0 + 1e-9) => {
                    run.push((t, v))
                }
                _ => runs.push(vec![(t, v)]),
            }
        }
        for run in runs {
            let points: Vec<String> = run
                .iter()
                .map(|&(t, v)| format!("{},{}", px(a.x(t)), px(a.y(v))))
                .collect();
            let _ = writeln!(
                out,
                "<polyline data-series=\"{}\" stroke=\"{}\"{dash} points=\"{}\"/>",
                s.name,
                s.color,
                points.join(" ")
            );
        }
        for &(t, v) in &s.points {
            let _ = writeln!(
                out,
                "<circle class=\"point\" data-series=\"{name}\" data-t=\"{t}\" data-v=\"{v}\" \
                 cx=\"{cx}\" cy=\"{cy}\" r=\"2.2\" fill=\"{color}\"><title>{name} {t:.1} s: {v}</title></circle>",
                name = s.name,
                color = s.color,
                cx = px(a.x(t)),
                cy = px(a.y(v)),
            );
        }
    }

    fn legend(&self, out: &mut String) {
        let mut x = WIDTH - RIGHT;
        for s in self.series.iter().rev() {
            x -= 14.0 + 7.0 * s.name.len() as f64 + 22.0;
            let _ = writeln!(
                out,
                "<line x1=\"{x}\" x2=\"{}\" y1=\"12\" y2=\"12\" stroke=\"{}\" stroke-width=\"2.5\"{}/>\
                 <text x=\"{}\" y=\"16\">{}</text>",
                x + 14.0,
                s.color,
                if s.dashed {
                    " stroke-dasharray=\"4 3\""
                } else {
                    ""
                },
                x + 19.0,
                s.name
            );
        }
    }
}

/// 1, 2 or 5 times a power of ten, at or above `v`.
pub(super) fn nice_ceiling(v: f64) -> f64 {
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * magnitude)
}

pub(super) fn tick_label(v: f64) -> String {
    if v >= 1.0 || v == 0.0 {
        format!("{v}")
    } else {
        format!("{v:.3}").trim_end_matches('0').to_string()
    }
}
