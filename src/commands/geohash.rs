//! The geohash arithmetic under the GEO commands (`geo`), computed as Redis
//! 7.0 computes it, operation for operation, so that scores, positions,
//! distances and the boxes a search walks are the same doubles.
//!
//! A position is a 52-bit integer stored as a sorted-set score: longitude
//! in [-180, 180] and latitude in [-85.05112878, 85.05112878] (the Web
//! Mercator limits) are each scaled to 26 bits, and the two are
//! interleaved, latitude on the even bits and longitude on the odd ones.
//! Decoding gives the centre of the 26-bit cell. A prefix of `2 * step`
//! bits is a box; every point in it has a score in one contiguous range, so
//! a search reads a few score ranges: the box of the estimated step that
//! holds the centre and its eight neighbours (`search_boxes`).

/// Coordinates that can be stored (EPSG:3857's limits).
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// Bits per coordinate in a stored score.
pub const STEP_MAX: u32 = 26;

/// Redis's degrees-to-radians factor (`M_PI / 180.0`, rounded once).
const D_R: f64 = std::f64::consts::PI / 180.0;
/// Earth's quadratic mean radius for WGS-84, Redis's value.
const EARTH_RADIUS_M: f64 = 6372797.560856;
/// Half the Web Mercator world's width, in metres.
const MERCATOR_MAX_M: f64 = 20037726.37;

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// Spreads the low 32 bits of `x` onto the even bits and `y` onto the odd.
fn interleave(x: u32, y: u32) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut v = v as u64;
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    }
    spread(x) | (spread(y) << 1)
}

/// The even bits of `bits` (as `x`) and the odd ones (as `y`).
fn deinterleave(bits: u64) -> (u32, u32) {
    fn squeeze(v: u64) -> u32 {
        let mut v = v & 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        ((v | (v >> 16)) & 0x0000_0000_FFFF_FFFF) as u32
    }
    (squeeze(bits), squeeze(bits >> 1))
}

/// A cell: `bits` of `2 * step` significant bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hash {
    pub bits: u64,
    pub step: u32,
}

/// The rectangle a cell covers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Area {
    pub lon_min: f64,
    pub lon_max: f64,
    pub lat_min: f64,
    pub lat_max: f64,
}

/// The cell of `step` bits per coordinate holding (lon, lat), with the
/// latitude range `lat_range` (Redis's own, or -90..90 for GEOHASH's
/// standard strings). `None` outside the storable limits.
fn encode_in(lon: f64, lat: f64, step: u32, lat_range: (f64, f64)) -> Option<Hash> {
    let outside = !(LON_MIN..=LON_MAX).contains(&lon)
        || !(LAT_MIN..=LAT_MAX).contains(&lat)
        || lat < lat_range.0
        || lat > lat_range.1;
    if outside || step == 0 || step > 32 {
        return None;
    }
    let lat_offset = (lat - lat_range.0) / (lat_range.1 - lat_range.0) * (1u64 << step) as f64;
    let lon_offset = (lon - LON_MIN) / (LON_MAX - LON_MIN) * (1u64 << step) as f64;
    // C's conversion to uint32_t: the offsets are within 0..=2^step here.
    Some(Hash {
        bits: interleave(lat_offset as u32, lon_offset as u32),
        step,
    })
}

pub fn encode(lon: f64, lat: f64, step: u32) -> Option<Hash> {
    encode_in(lon, lat, step, (LAT_MIN, LAT_MAX))
}

/// The score GEOADD stores for (lon, lat), already checked to be within
/// the limits: the 26-bit cell, aligned to 52 bits.
pub fn score_of(lon: f64, lat: f64) -> f64 {
    encode(lon, lat, STEP_MAX).map_or(0.0, |h| align52(h) as f64)
}

/// The cell's bits shifted to the top of a 52-bit score.
fn align52(h: Hash) -> u64 {
    h.bits << (52 - 2 * h.step)
}

/// The rectangle cell `h` covers.
pub fn decode(h: Hash) -> Area {
    let (ilat, ilon) = deinterleave(h.bits);
    let cells = (1u64 << h.step) as f64;
    let (lat_scale, lon_scale) = (LAT_MAX - LAT_MIN, LON_MAX - LON_MIN);
    Area {
        lat_min: LAT_MIN + (ilat as f64 / cells) * lat_scale,
        // `+ 1` in 32 bits, wrapping, as Redis computes it.
        lat_max: LAT_MIN + (ilat.wrapping_add(1) as f64 / cells) * lat_scale,
        lon_min: LON_MIN + (ilon as f64 / cells) * lon_scale,
        lon_max: LON_MIN + (ilon.wrapping_add(1) as f64 / cells) * lon_scale,
    }
}

/// C's `(uint64_t)` of a double as x86-64 compiles it: in range it
/// truncates; a negative value wraps as the signed conversion does; a value
/// out of range (or NaN) gives what `cvttsd2si` gives. A sorted set's score
/// need not be a geohash, and GEOPOS of any member must answer as Redis does.
fn c_double_to_u64(x: f64) -> u64 {
    const TWO_63: f64 = 9223372036854775808.0;
    let signed = |v: f64| -> u64 {
        if v.is_nan() || !(-TWO_63..TWO_63).contains(&v) {
            1u64 << 63
        } else {
            v as i64 as u64
        }
    };
    if x < TWO_63 {
        signed(x)
    } else {
        signed(x - TWO_63) ^ (1u64 << 63)
    }
}

/// The position (lon, lat) a stored score stands for: the centre of its
/// cell, held within the limits.
pub fn decode_score(score: f64) -> (f64, f64) {
    let area = decode(Hash {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    });
    let lon = ((area.lon_min + area.lon_max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((area.lat_min + area.lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The 11-character standard geohash (latitude over -90..90) of a stored
/// score, as GEOHASH answers it; the last character stands for bits a
/// score does not have.
pub fn geohash_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score);
    let bits = encode_in(lon, lat, STEP_MAX, (-90.0, 90.0)).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().take(10).enumerate() {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

/// Great-circle distance in metres (haversine), Redis 7.0.15's formula:
/// on one meridian (the longitudes' half-difference has a sine of 0) it is
/// the latitude difference times the radius, which can differ from the
/// haversine in the last bit (and STOREDIST shows every bit).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let v = ((deg_rad(lon2) - deg_rad(lon1)) / 2.0).sin();
    if v == 0.0 {
        return EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs();
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_M * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// What a search covers, around `center` (lon, lat); sizes in `unit`s,
/// `to_m` metres each.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Radius(f64),
    /// Width, height.
    Box(f64, f64),
}

#[derive(Clone, Copy, Debug)]
pub struct Search {
    pub center: (f64, f64),
    pub shape: Shape,
    pub to_m: f64,
}

impl Search {
    /// The distance (metres) from the centre to a point, if it is within
    /// the shape.
    pub fn contains(&self, lon: f64, lat: f64) -> Option<f64> {
        let (x1, y1) = self.center;
        match self.shape {
            Shape::Radius(r) => {
                let d = distance(x1, y1, lon, lat);
                // As in Redis, a NaN distance is not "greater".
                (d <= r * self.to_m || d.is_nan()).then_some(d)
            }
            Shape::Box(w, h) => {
                let lon_d = distance(lon, lat, x1, lat);
                let lat_d = distance(lon, lat, lon, y1);
                let outside = lon_d > w * self.to_m / 2.0 || lat_d > h * self.to_m / 2.0;
                (!outside).then(|| distance(x1, y1, lon, lat))
            }
        }
    }

    /// The bounding box in degrees: (lon min, lat min, lon max, lat max).
    /// Longitudes bend towards the pole, so the wider edge is used.
    fn bounds(&self) -> [f64; 4] {
        let (lon, lat) = self.center;
        let (height, width) = match self.shape {
            Shape::Radius(r) => (self.to_m * r, self.to_m * r),
            Shape::Box(w, h) => (self.to_m * (h / 2.0), self.to_m * (w / 2.0)),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let lon_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(lat + lat_delta).cos());
        let lon_delta_bottom = rad_deg(width / EARTH_RADIUS_M / deg_rad(lat - lat_delta).cos());
        let lon_delta = if lat < 0.0 {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        [
            lon - lon_delta,
            lat - lat_delta,
            lon + lon_delta,
            lat + lat_delta,
        ]
    }

    /// The radius (metres) of the circle the search fits in.
    fn radius_m(&self) -> f64 {
        let r = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        };
        r * self.to_m
    }
}

/// The bits per coordinate of boxes about as wide as the search, so that
/// the centre's box and its neighbours cover it.
fn estimate_step(mut range_m: f64, lat: f64) -> u32 {
    if range_m == 0.0 {
        return STEP_MAX;
    }
    let mut step: i32 = 1;
    // Bounded: a positive double doubles past the world's width within
    // about 1100 turns.
    while range_m < MERCATOR_MAX_M {
        range_m *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, STEP_MAX as i32) as u32
}

/// Moves a cell one step east (`d` > 0) or west along the odd bits, or
/// north/south along the even bits, wrapping around.
fn shift(h: Hash, d: i8, odd: bool) -> Hash {
    if d == 0 {
        return h;
    }
    let (keep_mask, move_mask) = if odd {
        (0x5555_5555_5555_5555u64, 0xaaaa_aaaa_aaaa_aaaau64)
    } else {
        (0xaaaa_aaaa_aaaa_aaaau64, 0x5555_5555_5555_5555u64)
    };
    let width = 64 - 2 * h.step;
    let mut moving = h.bits & move_mask;
    let kept = h.bits & keep_mask;
    // The other coordinate's bits set, so the carry or borrow skips them.
    let filler = keep_mask >> width;
    if d > 0 {
        moving = moving.wrapping_add(filler + 1);
    } else {
        moving = (moving | filler).wrapping_sub(filler + 1);
    }
    moving &= move_mask >> width;
    Hash {
        bits: moving | kept,
        step: h.step,
    }
}

/// The boxes a search reads, in Redis's order: the centre's, then north,
/// south, east, west, north-east, north-west, south-east, south-west;
/// `None` for a neighbour the bounding box does not reach.
pub fn search_boxes(search: &Search) -> [Option<Hash>; 9] {
    let b = search.bounds();
    let (min_lon, min_lat, max_lon, max_lat) = (b[0], b[1], b[2], b[3]);
    let (lon, lat) = search.center;
    let mut step = estimate_step(search.radius_m(), lat);
    let at = |step: u32| encode(lon, lat, step).unwrap_or(Hash { bits: 0, step });
    let mut hash = at(step);
    // A box next to the edge of the search may still be too small: one
    // step coarser then.
    let north = decode(shift(hash, 1, false));
    let south = decode(shift(hash, -1, false));
    let east = decode(shift(hash, 1, true));
    let west = decode(shift(hash, -1, true));
    let too_small = north.lat_max < max_lat
        || south.lat_min > min_lat
        || east.lon_max < max_lon
        || west.lon_min > min_lon;
    if step > 1 && too_small {
        step -= 1;
        hash = at(step);
    }
    let area = decode(hash);
    let around = |dx: i8, dy: i8| Some(shift(shift(hash, dx, true), dy, false));
    let mut boxes = [
        Some(hash),
        around(0, 1),
        around(0, -1),
        around(1, 0),
        around(-1, 0),
        around(1, 1),
        around(-1, 1),
        around(1, -1),
        around(-1, -1),
    ];
    if step >= 2 {
        let mut drop = |ix: [usize; 3]| ix.iter().for_each(|&i| boxes[i] = None);
        if area.lat_min < min_lat {
            drop([2, 7, 8]);
        }
        if area.lat_max > max_lat {
            drop([1, 5, 6]);
        }
        if area.lon_min < min_lon {
            drop([4, 8, 6]);
        }
        if area.lon_max > max_lon {
            drop([3, 7, 5]);
        }
    }
    boxes
}

/// The scores of the points inside box `h`: `min <= score < max`.
pub fn score_range(h: Hash) -> (f64, f64) {
    let min = align52(h);
    let max = align52(Hash {
        bits: h.bits + 1,
        step: h.step,
    });
    (min as f64, max as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            assert_eq!(deinterleave(interleave(x, y)), (x, y));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    #[test]
    fn neighbours_wrap_and_return() {
        let h = encode(13.361389, 38.115556, 10).unwrap();
        for odd in [false, true] {
            assert_eq!(shift(shift(h, 1, odd), -1, odd), h);
        }
        let west_edge = encode(-180.0, 0.0, 4).unwrap();
        assert!(decode(shift(west_edge, -1, true)).lon_max > 170.0);
    }

    #[test]
    fn c_conversion_matches_x86() {
        assert_eq!(c_double_to_u64(-1.0), u64::MAX);
        assert_eq!(c_double_to_u64(1.9), 1);
        assert_eq!(c_double_to_u64(f64::INFINITY), 0);
        assert_eq!(c_double_to_u64(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(c_double_to_u64(1e19), 10_000_000_000_000_000_000);
    }
}
