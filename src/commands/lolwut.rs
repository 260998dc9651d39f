//! LOLWUT: a piece of generative art and the version, as Redis answers it.
//! `LOLWUT VERSION 5 [cols] [squares-per-row] [squares-per-col]` draws
//! Georg Nees's "Schotter" (1968): a grid of squares that tilt and drift
//! more the lower they sit, drawn in Braille characters (2×4 dots each).
//! Any other version prints the version line alone, as Redis 7.0 does for
//! versions it has no art for (its default among them).

use super::server::REDIS_VERSION;
use crate::protocol::Frame;
use crate::util::parse_i64;
use bytes::Bytes;

/// A bitmap of dots, rendered as Braille.
struct Canvas {
    width: usize,
    height: usize,
    dots: Vec<bool>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Canvas {
        Canvas {
            width,
            height,
            dots: vec![false; width * height],
        }
    }

    fn set(&mut self, x: i64, y: i64) {
        if (0..self.width as i64).contains(&x) && (0..self.height as i64).contains(&y) {
            self.dots[y as usize * self.width + x as usize] = true;
        }
    }

    /// Bresenham's line from (x0, y0) to (x1, y1).
    fn line(&mut self, (mut x0, mut y0): (i64, i64), (x1, y1): (i64, i64)) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let mut err = dx + dy;
        loop {
            self.set(x0, y0);
            if x0 == x1 && y0 == y1 {
                return;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x0 += sx;
            }
            if e2 <= dx {
                err += dx;
                y0 += sy;
            }
        }
    }

    /// Each 2×4 block of dots as one Braille character (U+2800 + its bits).
    fn render(&self) -> String {
        // The bit of each dot of a cell, by (column, row).
        const BITS: [[u32; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];
        let mut out = String::new();
        for cy in (0..self.height).step_by(4) {
            for cx in (0..self.width).step_by(2) {
                let mut bits = 0;
                for (dx, column) in BITS.iter().enumerate() {
                    for (dy, bit) in column.iter().enumerate() {
                        let (x, y) = (cx + dx, cy + dy);
                        if x < self.width && y < self.height && self.dots[y * self.width + x] {
                            bits |= bit;
                        }
                    }
                }
                out.push(char::from_u32(0x2800 + bits).unwrap_or(' '));
            }
            out.push('\n');
        }
        out
    }
}

/// A small xorshift generator: the art changes from call to call.
struct Rng(u64);

impl Rng {
    /// A number in [-1, 1).
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Schotter on a canvas `cols` characters wide.
fn schotter(cols: usize, per_row: usize, per_col: usize) -> String {
    let width = cols * 2;
    let side = (width / (per_row + 2)).max(1);
    let height = side * (per_col + 2);
    let mut canvas = Canvas::new(width, height);
    let seed = crate::util::now_ms() ^ 0x9e37_79b9_7f4a_7c15;
    let mut rng = Rng(seed | 1);
    let half = side as f64 / 2.0;
    for row in 0..per_col {
        // How disordered this row is: none at the top, most at the bottom.
        let chaos = row as f64 / per_col as f64;
        for col in 0..per_row {
            let angle = rng.unit() * chaos * std::f64::consts::FRAC_PI_4;
            let cx = (col + 1) as f64 * side as f64 + half + rng.unit() * chaos * half;
            let cy = (row + 1) as f64 * side as f64 + half + rng.unit() * chaos * half;
            let (sin, cos) = angle.sin_cos();
            let corner = |sx: f64, sy: f64| {
                let (x, y) = (sx * half, sy * half);
                (
                    (cx + x * cos - y * sin).round() as i64,
                    (cy + x * sin + y * cos).round() as i64,
                )
            };
            let corners = [
                corner(-1.0, -1.0),
                corner(1.0, -1.0),
                corner(1.0, 1.0),
                corner(-1.0, 1.0),
            ];
            for i in 0..4 {
                canvas.line(corners[i], corners[(i + 1) % 4]);
            }
        }
    }
    canvas.render()
}

/// LOLWUT [VERSION v] [args of that version]
pub(super) fn lolwut(args: &[Bytes]) -> Frame {
    let mut version = 7;
    let mut rest = &args[1..];
    if rest.len() >= 2 && rest[0].eq_ignore_ascii_case(b"version") {
        match parse_i64(&rest[1]) {
            Some(v) => version = v,
            None => return super::not_integer(),
        }
        rest = &rest[2..];
    }
    let signature = format!("Redis ver. {REDIS_VERSION}\n");
    if version != 5 {
        return Frame::Verbatim(signature);
    }
    // cols, squares per row, squares per column, each clamped as Redis does.
    let mut numbers = [(66, 1, 1000), (8, 1, 200), (12, 1, 200)];
    for (arg, (value, low, high)) in rest.iter().zip(numbers.iter_mut()) {
        match parse_i64(arg) {
            Some(n) => *value = n.clamp(*low, *high),
            None => return super::not_integer(),
        }
    }
    let [cols, per_row, per_col] = numbers.map(|(v, _, _)| v as usize);
    Frame::Verbatim(format!(
        "{}\nGeorg Nees - schotter, plotter on paper, 1968. {signature}",
        schotter(cols, per_row, per_col)
    ))
}
