//! The effect lists that the records of writes spanning shards wrap
//! (`tx`, `split`), and the reader of those records' arguments.

use bytes::Bytes;

/// Effect records of one shard: (database, argv).
pub type Effects = Vec<(usize, Vec<Bytes>)>;

pub(super) fn num(n: usize) -> Bytes {
    Bytes::from(n.to_string())
}

pub(super) fn put_effects(out: &mut Vec<Bytes>, effects: &Effects) {
    out.push(num(effects.len()));
    for (db, argv) in effects {
        out.push(num(argv.len()));
        out.push(num(*db));
        out.extend(argv.iter().cloned());
    }
}

/// Reads a record's arguments in order; every count is checked against
/// what is left, so a damaged record is an error, never a panic.
pub(super) struct Reader<'a> {
    args: &'a [Bytes],
    at: usize,
}

impl<'a> Reader<'a> {
    /// Reads the arguments after the record's name.
    pub(super) fn new(args: &'a [Bytes]) -> Self {
        Reader { args, at: 1 }
    }

    pub(super) fn next(&mut self) -> Result<&'a Bytes, String> {
        let a = self
            .args
            .get(self.at)
            .ok_or("truncated transaction record")?;
        self.at += 1;
        Ok(a)
    }

    pub(super) fn num(&mut self) -> Result<usize, String> {
        let a = self.next()?;
        let n = std::str::from_utf8(a)
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or("bad number in a transaction record")?;
        Ok(n)
    }

    /// A count of items that each take at least `each` arguments.
    pub(super) fn count(&mut self, each: usize) -> Result<usize, String> {
        let n = self.num()?;
        if n.saturating_mul(each) > self.args.len() - self.at {
            return Err("transaction record count beyond its end".into());
        }
        Ok(n)
    }

    pub(super) fn argv(&mut self, n: usize) -> Result<Vec<Bytes>, String> {
        if n > self.args.len() - self.at {
            return Err("transaction record argument list beyond its end".into());
        }
        let v = self.args[self.at..self.at + n].to_vec();
        self.at += n;
        Ok(v)
    }

    pub(super) fn effects(&mut self) -> Result<Effects, String> {
        let n = self.count(3)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let argc = self.count(1)?;
            let db = self.num()?;
            if argc == 0 {
                return Err("empty effect in a transaction record".into());
            }
            out.push((db, self.argv(argc)?));
        }
        Ok(out)
    }

    pub(super) fn end(&self) -> Result<(), String> {
        if self.at == self.args.len() {
            Ok(())
        } else {
            Err("trailing arguments in a transaction record".into())
        }
    }
}
