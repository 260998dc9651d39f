//! `cmsgpack`, the MessagePack library Redis gives scripts (its bundled
//! lua-cmsgpack 0.4.0), byte for byte: BullMQ's scripts and others unpack
//! their options with it. `pack(...)` encodes each argument and joins them;
//! `unpack(s)` returns every object of `s`; `unpack_one(s [, offset])` and
//! `unpack_limit(s, limit [, offset])` return the offset after what they
//! read (-1 at the end) before the objects.
//!
//! Its rules, kept: a number that is an integer is packed as the smallest
//! integer form, any other as a float32 when that loses nothing, else a
//! float64; strings are `str` (never `bin`); a table whose keys are exactly
//! 1..n is an array, any other a map; tables nested past 16 levels are
//! packed as nil; anything else (a function, userdata) is nil. Decoding
//! reads every form but `bin` and `ext` ("Bad data format in input.").

use mlua::{Lua, Table, Value, Variadic};

/// Nesting past which a table is packed as nil (lua-cmsgpack's
/// `LUACMSGPACK_MAX_NESTING`: it survives circular tables that way).
const MAX_NESTING: usize = 16;
/// Deepest nesting decoded. lua-cmsgpack stops where Lua's stack does (a
/// few thousand levels); the limit keeps recursion off the core's stack.
const MAX_DECODE_DEPTH: usize = 1000;

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.is_empty() {
                return Err(mlua::Error::runtime(
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                ));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                encode(v, 0, &mut out)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, s: mlua::LuaString| unpack(lua, &s.as_bytes(), 0, 0))?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, (s, offset): (mlua::LuaString, Option<i64>)| {
            unpack(lua, &s.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(
            |lua, (s, limit, offset): (mlua::LuaString, i64, Option<i64>)| {
                unpack(lua, &s.as_bytes(), limit, offset.unwrap_or(0))
            },
        )?,
    )?;
    Ok(t)
}

// ------------------------------------------------------------- encoding

fn encode(v: &Value, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::String(s) => encode_bytes(&s.as_bytes(), out),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_int(*i, out),
        Value::Number(n) => encode_number(*n, out),
        Value::Table(t) if level < MAX_NESTING => encode_table(t, level, out)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn encode_bytes(s: &[u8], out: &mut Vec<u8>) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// An integer in the smallest form lua-cmsgpack uses for it.
fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Lua 5.1's numbers are doubles: an integral one in i64's range is an
/// integer, any other a float (32 bits when that loses nothing).
fn encode_number(n: f64, out: &mut Vec<u8>) {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if n.is_finite() && n.trunc() == n && (-TWO_63..TWO_63).contains(&n) {
        return encode_int(n as i64, out);
    }
    let f = n as f32;
    if f64::from(f) == n {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_table(t: &Table, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    // An array when the keys are exactly 1..n (lua-cmsgpack's test: every
    // key a positive integer, and as many keys as the largest).
    let (mut count, mut max, mut array) = (0usize, 0f64, true);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        count += 1;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => f64::NAN,
        };
        if !(n > 0.0 && n.trunc() == n && n <= i32::MAX as f64) {
            array = false;
        } else if n > max {
            max = n;
        }
    }
    if array && max as usize == count {
        let len = t.raw_len();
        encode_header(len, 0x90, 0xdc, out);
        for j in 1..=len {
            let v: Value = t.get(j)?;
            encode(&v, level + 1, out)?;
        }
    } else {
        encode_header(count, 0x80, 0xde, out);
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            encode(&k, level + 1, out)?;
            encode(&v, level + 1, out)?;
        }
    }
    Ok(())
}

/// An array's or a map's header: the fix form, or the 16- or 32-bit one
/// (`wide` and `wide + 1`).
fn encode_header(n: usize, fix: u8, wide: u8, out: &mut Vec<u8>) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(wide);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(wide + 1);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

// ------------------------------------------------------------- decoding

/// lua-cmsgpack's `mp_unpack_full`: `limit` and `offset` 0 decode every
/// object; otherwise at most `limit` from `offset`, after the next offset.
fn unpack(lua: &Lua, s: &[u8], limit: i64, offset: i64) -> mlua::Result<Variadic<Value>> {
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(mlua::Error::runtime(format!(
            "Invalid request to unpack with offset of {offset} and limit of {}.",
            s.len()
        )));
    }
    if offset as u64 > s.len() as u64 {
        return Err(mlua::Error::runtime(format!(
            "Start offset {offset} greater than input length {}.",
            s.len()
        )));
    }
    let limit = if decode_all { i64::MAX } else { limit };
    let mut cursor = Cursor {
        s,
        at: offset as usize,
    };
    let mut values = Variadic::new();
    while cursor.at < s.len() && (values.len() as i64) < limit {
        match cursor.decode(lua, 0) {
            Ok(v) => values.push(v),
            Err(Bad::Eof) => return Err(mlua::Error::runtime("Missing bytes in input.")),
            Err(Bad::Format) => return Err(mlua::Error::runtime("Bad data format in input.")),
            Err(Bad::Lua(e)) => return Err(e),
        }
    }
    if !decode_all {
        let next = if cursor.at == s.len() {
            -1
        } else {
            cursor.at as i64
        };
        values.insert(0, Value::Integer(next));
    }
    Ok(values)
}

enum Bad {
    Eof,
    Format,
    Lua(mlua::Error),
}

impl From<mlua::Error> for Bad {
    fn from(e: mlua::Error) -> Bad {
        Bad::Lua(e)
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Bad> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.s.len());
        let end = end.ok_or(Bad::Eof)?;
        let bytes = &self.s[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn be(&mut self, n: usize) -> Result<u64, Bad> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| acc << 8 | b as u64))
    }

    fn decode(&mut self, lua: &Lua, depth: usize) -> Result<Value, Bad> {
        if depth > MAX_DECODE_DEPTH {
            return Err(Bad::Lua(mlua::Error::runtime(
                "too many return values at once; use unpack_one or unpack_limit instead.",
            )));
        }
        let kind = self.take(1)?[0];
        let number = |n: f64| Ok(Value::Number(n));
        match kind {
            0xc0 => Ok(Value::Nil),
            0xc2 => Ok(Value::Boolean(false)),
            0xc3 => Ok(Value::Boolean(true)),
            0xcc => number(self.be(1)? as f64),
            0xcd => number(self.be(2)? as f64),
            0xce => number(self.be(4)? as f64),
            0xcf => number(self.be(8)? as f64),
            0xd0 => number(self.be(1)? as u8 as i8 as f64),
            0xd1 => number(self.be(2)? as u16 as i16 as f64),
            0xd2 => number(self.be(4)? as u32 as i32 as f64),
            0xd3 => number(self.be(8)? as i64 as f64),
            0xca => number(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => number(f64::from_bits(self.be(8)?)),
            0xd9..=0xdb => {
                let len = self.be(1 << (kind - 0xd9))? as usize;
                self.string(lua, len)
            }
            0xdc | 0xdd => {
                let len = self.be(2 << (kind - 0xdc))? as usize;
                self.array(lua, len, depth)
            }
            0xde | 0xdf => {
                let len = self.be(2 << (kind - 0xde))? as usize;
                self.map(lua, len, depth)
            }
            k if k & 0x80 == 0 => number(k as f64),
            k if k & 0xe0 == 0xe0 => number(k as i8 as f64),
            k if k & 0xe0 == 0xa0 => self.string(lua, (k & 0x1f) as usize),
            k if k & 0xf0 == 0x90 => self.array(lua, (k & 0x0f) as usize, depth),
            k if k & 0xf0 == 0x80 => self.map(lua, (k & 0x0f) as usize, depth),
            _ => Err(Bad::Format),
        }
    }

    fn string(&mut self, lua: &Lua, len: usize) -> Result<Value, Bad> {
        let bytes = self.take(len)?;
        Ok(Value::String(lua.create_string(bytes)?))
    }

    fn array(&mut self, lua: &Lua, len: usize, depth: usize) -> Result<Value, Bad> {
        // Each element takes at least one byte: a count past what is left
        // is missing bytes, found before a table of that size is made.
        if len > self.s.len() - self.at {
            return Err(Bad::Eof);
        }
        let t = lua.create_table_with_capacity(len, 0)?;
        for i in 1..=len {
            let v = self.decode(lua, depth + 1)?;
            t.raw_set(i, v)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, lua: &Lua, len: usize, depth: usize) -> Result<Value, Bad> {
        if len > (self.s.len() - self.at) / 2 {
            return Err(Bad::Eof);
        }
        let t = lua.create_table_with_capacity(0, len)?;
        for _ in 0..len {
            let k = self.decode(lua, depth + 1)?;
            let v = self.decode(lua, depth + 1)?;
            t.set(k, v)?;
        }
        Ok(Value::Table(t))
    }
}
