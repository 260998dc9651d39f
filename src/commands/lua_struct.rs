//! `struct`, the binary packing library Redis gives scripts (Roberto
//! Ierusalimschy's lua-struct, as Redis bundles it): `pack(fmt, ...)`,
//! `unpack(fmt, s [, pos])` (the values, then the position after them) and
//! `size(fmt)`, with its formats, alignment rules and error messages, on
//! x86-64 (`l`, `L` and `T` are 8 bytes, `i` 4, native order little).
//!
//! Formats: `>` big endian, `<` little, `!n` maximum alignment n (a power
//! of 2; 8 without n), `b/B h/H l/L T in/In` integers (signed when lower
//! case; n bytes up to 32), `f` `d` floats, `x` a zero byte, `cn` n bytes
//! of a string (`c0`: all of it, or when unpacking the size read just
//! before), `s` a zero-terminated string, spaces ignored.

use mlua::{Lua, Table, Value, Variadic};

/// Widest integer a format may name.
const MAX_INT_SIZE: usize = 32;
/// Alignment of `!` without a number (a double's, on x86-64).
const MAX_ALIGN: usize = 8;

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: Variadic<Value>| pack(lua, &args))?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, args: Variadic<Value>| unpack(lua, &args))?,
    )?;
    t.raw_set(
        "size",
        lua.create_function(|lua, args: Variadic<Value>| size(lua, &args))?,
    )?;
    Ok(t)
}

fn error(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::runtime(msg.into())
}

/// Lua's `bad argument` error, as `luaL_argerror` words it.
fn arg_error(n: usize, function: &str, msg: &str) -> mlua::Error {
    error(format!("bad argument #{n} to '{function}' ({msg})"))
}

fn type_error(args: &[Value], n: usize, function: &str, expected: &str) -> mlua::Error {
    // `pack` pushes a nil after its arguments: a missing one reads as nil.
    let missing = if function == "pack" {
        "nil"
    } else {
        "no value"
    };
    let got = args.get(n - 1).map_or(missing, |v| match v {
        Value::Nil => "nil",
        other => other.type_name(),
    });
    arg_error(n, function, &format!("{expected} expected, got {got}"))
}

/// `luaL_checklstring`: a string, or a number as Lua itself turns it
/// into one.
fn check_bytes(lua: &Lua, args: &[Value], n: usize, function: &str) -> mlua::Result<Vec<u8>> {
    match args.get(n - 1) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => match lua.coerce_string(v.clone())? {
            Some(s) => Ok(s.as_bytes().to_vec()),
            None => Err(type_error(args, n, function, "string")),
        },
        _ => Err(type_error(args, n, function, "string")),
    }
}

/// `luaL_checknumber`: a number, or a string that reads as one.
fn check_number(args: &[Value], n: usize, function: &str) -> mlua::Result<f64> {
    match args.get(n - 1) {
        Some(Value::Integer(i)) => Ok(*i as f64),
        Some(Value::Number(x)) => Ok(*x),
        Some(Value::String(s)) => std::str::from_utf8(&s.as_bytes())
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok())
            .ok_or_else(|| type_error(args, n, function, "number")),
        _ => Err(type_error(args, n, function, "number")),
    }
}

/// The format being read, and the order and alignment it set so far.
struct Format<'a> {
    fmt: &'a [u8],
    at: usize,
    little: bool,
    align: usize,
}

impl<'a> Format<'a> {
    fn new(fmt: &'a [u8]) -> Format<'a> {
        Format {
            fmt,
            at: 0,
            little: true,
            align: 1,
        }
    }

    fn next(&mut self) -> Option<u8> {
        let c = *self.fmt.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    /// A number following the option, or `default`.
    fn number(&mut self, default: usize) -> mlua::Result<usize> {
        if !self.fmt.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: usize = 0;
        while let Some(d) = self.fmt.get(self.at).filter(|d| d.is_ascii_digit()) {
            let d = (d - b'0') as usize;
            if a > (i32::MAX as usize) / 10 || a * 10 > i32::MAX as usize - d {
                return Err(error("integral size overflow"));
            }
            a = a * 10 + d;
            self.at += 1;
        }
        Ok(a)
    }

    /// How many bytes option `opt` takes (0 for the controls).
    fn size(&mut self, opt: u8) -> mlua::Result<usize> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(1)?,
            b'i' | b'I' => {
                let size = self.number(4)?;
                if size > MAX_INT_SIZE {
                    return Err(error(format!(
                        "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                size
            }
            _ => 0,
        })
    }

    /// Padding before an item of `size` at `len`.
    fn padding(&self, len: usize, opt: u8, size: usize) -> usize {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let size = size.min(self.align);
        (size - (len & (size - 1))) & (size - 1)
    }

    /// `>`, `<`, `!n` and spaces; any other option is an error.
    fn control(&mut self, opt: u8, function: &str) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => self.little = false,
            b'<' => self.little = true,
            b'!' => {
                let a = self.number(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(error(format!("alignment {a} is not a power of 2")));
                }
                self.align = a;
            }
            other => {
                let msg = format!("invalid format option '{}'", other as char);
                return Err(arg_error(1, function, &msg));
            }
        }
        Ok(())
    }
}

fn pack(lua: &Lua, args: &[Value]) -> mlua::Result<mlua::LuaString> {
    let fmt = check_bytes(lua, args, 1, "pack")?;
    let mut f = Format::new(&fmt);
    let mut out: Vec<u8> = Vec::new();
    let mut arg = 2;
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        let pad = f.padding(out.len(), opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(args, arg, "pack")?;
                arg += 1;
                // As C converts it: through a signed 64-bit integer when
                // negative; bytes past the eighth are zero.
                let mut value = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut bytes = vec![0u8; size];
                let order: Vec<usize> = match f.little {
                    true => (0..size).collect(),
                    false => (0..size).rev().collect(),
                };
                for i in order {
                    bytes[i] = value as u8;
                    value = value.checked_shr(8).unwrap_or(0);
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let x = check_number(args, arg, "pack")? as f32;
                arg += 1;
                out.extend(if f.little {
                    x.to_le_bytes()
                } else {
                    x.to_be_bytes()
                });
            }
            b'd' => {
                let x = check_number(args, arg, "pack")?;
                arg += 1;
                out.extend(if f.little {
                    x.to_le_bytes()
                } else {
                    x.to_be_bytes()
                });
            }
            b'c' | b's' => {
                let s = check_bytes(lua, args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(arg_error(arg, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            other => f.control(other, "pack")?,
        }
    }
    lua.create_string(&out)
}

fn unpack(lua: &Lua, args: &[Value]) -> mlua::Result<Variadic<Value>> {
    let fmt = check_bytes(lua, args, 1, "unpack")?;
    let data = check_bytes(lua, args, 2, "unpack")?;
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1,
        Some(_) => check_number(args, 3, "unpack")? as i64,
    };
    if start == 0 {
        return Err(arg_error(3, "unpack", "offset must be 1 or greater"));
    }
    // As the C code's size_t: a negative start wraps around, and the first
    // item is then past the data.
    let mut pos = (start - 1) as usize;
    let mut f = Format::new(&fmt);
    let mut values = Variadic::new();
    let too_short = || arg_error(2, "unpack", "data string too short");
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        pos = pos.wrapping_add(f.padding(pos, opt, size));
        if size > data.len() || pos > data.len() - size {
            return Err(too_short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let bytes = &data[pos..pos + size];
                let mut l: u64 = 0;
                let mut push = |b: &u8| l = (l << 8) | *b as u64;
                match f.little {
                    true => bytes.iter().rev().for_each(&mut push),
                    false => bytes.iter().for_each(&mut push),
                }
                let n = if opt.is_ascii_lowercase() {
                    // Sign extension from the item's top bit (x86-64 takes
                    // a shift count modulo 64, as the C code does).
                    let mask = u64::MAX << ((size * 8).wrapping_sub(1) % 64);
                    if l & mask != 0 {
                        l |= mask;
                    }
                    l as i64 as f64
                } else {
                    l as f64
                };
                values.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().unwrap_or_default();
                let x = if f.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                values.push(Value::Number(f64::from(x)));
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().unwrap_or_default();
                let x = if f.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                values.push(Value::Number(x));
            }
            b'c' => {
                if size == 0 {
                    let previous = match values.last() {
                        Some(Value::Number(n)) => Some(*n),
                        Some(Value::String(s)) => std::str::from_utf8(&s.as_bytes())
                            .ok()
                            .and_then(|t| t.trim().parse::<f64>().ok()),
                        _ => None,
                    };
                    let Some(n) = previous else {
                        return Err(error("format 'c0' needs a previous size"));
                    };
                    values.pop();
                    size = n as usize;
                    if size > data.len() || pos > data.len() - size {
                        return Err(too_short());
                    }
                }
                values.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(error("unfinished string in data"));
                };
                values.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
            other => f.control(other, "unpack")?,
        }
        pos = pos.wrapping_add(size);
    }
    values.push(Value::Number(pos.wrapping_add(1) as i64 as f64));
    Ok(values)
}

fn size(lua: &Lua, args: &[Value]) -> mlua::Result<f64> {
    let fmt = check_bytes(lua, args, 1, "size")?;
    let mut f = Format::new(&fmt);
    let mut pos = 0usize;
    while let Some(opt) = f.next() {
        let size = f.size(opt)?;
        pos += f.padding(pos, opt, size);
        if opt == b's' {
            return Err(arg_error(1, "size", "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(arg_error(1, "size", "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(opt, "size")?;
        }
        pos += size;
    }
    Ok(pos as f64)
}
