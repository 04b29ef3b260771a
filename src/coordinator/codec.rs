//! The field encodings journal record bodies share: big-endian integers, length-prefixed
//! strings and bytes, optional strings with a presence byte. Reads fail instead of panicking,
//! so a damaged body is an error for replay to skip, never a crash.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub fn put_str(out: &mut BytesMut, s: &str) {
    put_bytes(out, s.as_bytes());
}

pub fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    out.put_u32(b.len() as u32);
    out.put_slice(b);
}

pub fn put_opt_str(out: &mut BytesMut, s: &Option<String>) {
    match s {
        Some(s) => {
            out.put_u8(1);
            put_str(out, s);
        }
        None => out.put_u8(0),
    }
}

/// A cursor over a record body.
pub struct Reader(Bytes);

impl Reader {
    pub fn new(body: Bytes) -> Reader {
        Reader(body)
    }

    fn need(&self, n: usize) -> io::Result<()> {
        if self.0.remaining() < n {
            Err(invalid("a journal record is cut short"))
        } else {
            Ok(())
        }
    }

    pub fn u8(&mut self) -> io::Result<u8> {
        self.need(1)?;
        Ok(self.0.get_u8())
    }

    pub fn i16(&mut self) -> io::Result<i16> {
        self.need(2)?;
        Ok(self.0.get_i16())
    }

    pub fn i32(&mut self) -> io::Result<i32> {
        self.need(4)?;
        Ok(self.0.get_i32())
    }

    pub fn i64(&mut self) -> io::Result<i64> {
        self.need(8)?;
        Ok(self.0.get_i64())
    }

    /// A count of items that follow, each at least `min_item_bytes` long: a count the rest
    /// of the body cannot hold is damage (and must not size an allocation).
    pub fn count(&mut self, min_item_bytes: usize) -> io::Result<usize> {
        let count = self.i32()? as u32 as usize;
        if count.saturating_mul(min_item_bytes.max(1)) > self.0.remaining() {
            return Err(invalid("a journal record counts more items than it holds"));
        }
        Ok(count)
    }

    pub fn bytes(&mut self) -> io::Result<Bytes> {
        self.need(4)?;
        let len = self.0.get_u32() as usize;
        self.need(len)?;
        Ok(self.0.split_to(len))
    }

    pub fn str(&mut self) -> io::Result<String> {
        String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| invalid("a journal record holds invalid UTF-8"))
    }

    pub fn opt_str(&mut self) -> io::Result<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            _ => Ok(Some(self.str()?)),
        }
    }

    /// Whether every byte was read: trailing bytes are damage too.
    pub fn finished(&self) -> bool {
        !self.0.has_remaining()
    }
}

pub fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}
