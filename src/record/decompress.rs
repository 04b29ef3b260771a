//! The records of a compressed batch, decompressed as they are walked: gzip, snappy, lz4 and
//! zstd, each streaming into a small reusable buffer ([`SCRATCH_BYTES`]), and never more than
//! one byte past a budget (derived from the topic's `max.message.bytes`, see
//! [`decompression_budget`](super::validate::decompression_budget)) in all, however large the
//! batch claims to be. Decompressed data is never kept.
//!
//! Memory stays at the scratch buffer plus the codec's own state: gzip its 32 KiB window, lz4
//! one block (at most 4 MiB, as the frame declares), snappy one chunk (at most 32× its
//! compressed size), zstd its window, of which no more is touched than is decoded, hence at
//! most the budget.

use std::cell::RefCell;
use std::io::{self, Read};

use super::batch::{BatchHeader, HEADER_BYTES};
use super::validate::RecordError;
use super::walk::{premature_end, RecordWalk, SliceSource, Source};

/// The per-thread buffer decompressors write into: 64 KiB holds a whole lz4 block of the
/// size Java and librdkafka write (64 KiB), so lz4 decodes in place instead of via its own
/// temporary block.
pub const SCRATCH_BYTES: usize = 64 * 1024;

/// zstd's own default limit on the window a frame may ask for (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`,
/// 128 MiB), and what a Java producer at level 22 declares. Lower would refuse legitimate
/// batches; the window is touched only as far as bytes are decoded, which the budget bounds.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// Snappy cannot expand input more than ~21× (a 3-byte copy of 64 bytes); a chunk that
/// claims more is corrupt, and is refused before its output is allocated.
const SNAPPY_EXPANSION_MAX: usize = 32;
/// xerial snappy-java's stream header (what Kafka's Java client writes): 8 bytes of magic,
/// then a version and a compatible version, 4 bytes each. Without it the payload is raw
/// snappy, as both Kafka and snappy-java accept.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_BYTES: usize = 16;

/// Runs `walker` over the records of `batch`, decompressing them if need be with at most
/// `budget` bytes decoded. Bytes that do not decompress, or inflate past the budget, are
/// [`RecordError::Corrupt`], as is an unknown codec.
pub(super) fn walk_batch<W: RecordWalk>(
    batch: &BatchHeader<'_>,
    budget: u64,
    walker: &W,
) -> Result<W::Output, RecordError> {
    let records = &batch.bytes()[HEADER_BYTES..];
    match batch.compression() {
        0 => walker.walk(&mut SliceSource::new(records)),
        1 => with_workspace(|ws| {
            let decoder = Gzip(flate2::bufread::MultiGzDecoder::new(records));
            walker.walk(&mut StreamSource::new(decoder, &mut ws.scratch, budget))
        }),
        2 => with_workspace(|ws| {
            let decoder = Snappy::new(records, budget);
            walker.walk(&mut StreamSource::new(decoder, &mut ws.scratch, budget))
        }),
        3 => with_workspace(|ws| {
            let decoder = Lz4 {
                decoder: Some(lz4::Decoder::new(records).map_err(not_decompressible)?),
            };
            walker.walk(&mut StreamSource::new(decoder, &mut ws.scratch, budget))
        }),
        4 => with_workspace(|ws| {
            let reused = ws.zstd.is_some();
            let walked = walk_zstd(ws, records, walker, budget);
            if walked.is_err() {
                // A refused frame may have grown the context's window (up to the budget):
                // the thread does not keep that.
                ws.zstd = None;
                // A frame that lies about its content size decodes or not depending on the
                // buffers an earlier frame left in the context (zstd keeps larger ones for a
                // while): found by fuzzing, the same batch was refused on its second look.
                // A fresh context has the last word, so the verdict depends on the batch
                // alone. Only refused batches pay for it.
                if reused {
                    let again = walk_zstd(ws, records, walker, budget);
                    if again.is_err() {
                        ws.zstd = None;
                    }
                    return again;
                }
            }
            walked
        }),
        other => Err(RecordError::Corrupt(format!(
            "unknown compression type {other}"
        ))),
    }
}

#[cold]
fn not_decompressible(e: io::Error) -> RecordError {
    RecordError::Corrupt(format!("the batch does not decompress: {e}"))
}

/// A decompressor, which also says whether its input ended where the compressed stream does
/// (some report a truncated stream as a plain end of data).
trait Decompressor: Read {
    fn ended_cleanly(&mut self) -> Result<(), RecordError> {
        Ok(())
    }
}

/// The records of a compressed batch, decoded a buffer at a time into `scratch`, and never
/// more than one byte past `budget` in all.
struct StreamSource<'s, D: Decompressor> {
    decoder: D,
    scratch: &'s mut [u8],
    /// Next unread byte in `scratch`, and the end of what was decoded into it.
    at: usize,
    filled: usize,
    /// Bytes consumed before the current fill of `scratch`.
    before: u64,
    decoded: u64,
    budget: u64,
    ended: bool,
}

impl<'s, D: Decompressor> StreamSource<'s, D> {
    fn new(decoder: D, scratch: &'s mut [u8], budget: u64) -> Self {
        StreamSource {
            decoder,
            scratch,
            at: 0,
            filled: 0,
            before: 0,
            decoded: 0,
            budget,
            ended: false,
        }
    }

    /// Decodes the next piece into `scratch`; false at the end of the stream.
    fn refill(&mut self) -> Result<bool, RecordError> {
        self.before += self.filled as u64;
        self.at = 0;
        self.filled = 0;
        if self.ended {
            return Ok(false);
        }
        // One byte past the budget is enough to know it is exceeded.
        let room =
            (self.budget.saturating_add(1) - self.decoded).min(self.scratch.len() as u64) as usize;
        loop {
            match self.decoder.read(&mut self.scratch[..room]) {
                Ok(0) => {
                    self.ended = true;
                    self.decoder.ended_cleanly()?;
                    return Ok(false);
                }
                Ok(n) => {
                    self.filled = n;
                    self.decoded += n as u64;
                    if self.decoded > self.budget {
                        return Err(RecordError::Corrupt(format!(
                            "the batch inflates past {} bytes, the most this topic allows",
                            self.budget
                        )));
                    }
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(not_decompressible(e)),
            }
        }
    }
}

impl<D: Decompressor> Source for StreamSource<'_, D> {
    #[inline]
    fn byte(&mut self, index: i32) -> Result<u8, RecordError> {
        if self.at == self.filled && !self.refill()? {
            return Err(premature_end(index));
        }
        let byte = self.scratch[self.at];
        self.at += 1;
        Ok(byte)
    }

    fn skip(&mut self, mut n: usize, index: i32) -> Result<(), RecordError> {
        loop {
            let here = self.filled - self.at;
            if n <= here {
                self.at += n;
                return Ok(());
            }
            n -= here;
            self.at = self.filled;
            if !self.refill()? {
                return Err(premature_end(index));
            }
        }
    }

    #[inline]
    fn position(&self) -> u64 {
        self.before + self.at as u64
    }

    #[inline]
    fn buffered(&self) -> &[u8] {
        &self.scratch[self.at..self.filled]
    }

    #[inline]
    fn advance(&mut self, n: usize) {
        self.at += n;
    }

    fn at_end(&mut self) -> Result<bool, RecordError> {
        Ok(self.at == self.filled && !self.refill()?)
    }
}

/// What decompression reuses from batch to batch on a thread: the scratch buffer, and the
/// zstd context, whose creation (tables, and a window of the frame's declared size, 2 MiB
/// for a Java producer at the default level) otherwise costs more than decoding a 16 KiB
/// batch (measured: `cargo bench --bench hot_path -- record_checks`).
struct Workspace {
    scratch: Vec<u8>,
    zstd: Option<zstd::zstd_safe::DCtx<'static>>,
}

impl Workspace {
    fn new() -> Workspace {
        Workspace {
            scratch: vec![0; SCRATCH_BYTES],
            zstd: None,
        }
    }
}

/// Walks the records of a zstd batch with this thread's context.
fn walk_zstd<W: RecordWalk>(
    ws: &mut Workspace,
    records: &[u8],
    walker: &W,
    budget: u64,
) -> Result<W::Output, RecordError> {
    let context = zstd_context(&mut ws.zstd)?;
    let decoder = Zstd(zstd::stream::read::Decoder::with_context(records, context));
    walker.walk(&mut StreamSource::new(decoder, &mut ws.scratch, budget))
}

/// This thread's zstd context (made on first use), reset for a new frame.
fn zstd_context<'w>(
    slot: &'w mut Option<zstd::zstd_safe::DCtx<'static>>,
) -> Result<&'w mut zstd::zstd_safe::DCtx<'static>, RecordError> {
    use zstd::zstd_safe::{DCtx, DParameter, ResetDirective};
    let failed = |what: &str| RecordError::Corrupt(format!("zstd context: {what}"));
    if slot.is_none() {
        let mut context = DCtx::try_create().ok_or_else(|| failed("out of memory"))?;
        context
            .set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG_MAX))
            .map_err(|_| failed("window limit"))?;
        *slot = Some(context);
    }
    let context = slot.as_mut().ok_or_else(|| failed("missing"))?;
    // Keeps the parameters; clears a frame an earlier batch left unfinished.
    context
        .reset(ResetDirective::SessionOnly)
        .map_err(|_| failed("reset"))?;
    Ok(context)
}

thread_local! {
    static WORKSPACE: RefCell<Option<Workspace>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's workspace (made on first use, kept for the thread).
fn with_workspace<T>(f: impl FnOnce(&mut Workspace) -> T) -> T {
    WORKSPACE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut workspace) => f(workspace.get_or_insert_with(Workspace::new)),
        // Not reentrant today; a fresh workspace keeps it correct if it ever is.
        Err(_) => f(&mut Workspace::new()),
    })
}

/// gzip, as Kafka reads it (`GZIPInputStream`): concatenated members are one stream; a
/// truncated member is an error.
struct Gzip<'a>(flate2::bufread::MultiGzDecoder<&'a [u8]>);

impl Read for Gzip<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Decompressor for Gzip<'_> {}

/// zstd: concatenated frames are one stream; a truncated frame is an error.
struct Zstd<'a, 'c>(zstd::stream::read::Decoder<'c, &'a [u8]>);

impl Read for Zstd<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Decompressor for Zstd<'_, '_> {}

/// One lz4 frame, as Kafka writes and reads it. The lz4 crate reports input that ends inside
/// the frame as a plain end of data; `ended_cleanly` asks the frame decoder whether it saw the
/// end mark, and refuses bytes after it.
struct Lz4<'a> {
    decoder: Option<lz4::Decoder<&'a [u8]>>,
}

impl Read for Lz4<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.decoder {
            Some(decoder) => decoder.read(buf),
            None => Ok(0),
        }
    }
}

impl Decompressor for Lz4<'_> {
    fn ended_cleanly(&mut self) -> Result<(), RecordError> {
        let Some(decoder) = self.decoder.take() else {
            return Ok(());
        };
        let (rest, ended) = decoder.finish();
        ended.map_err(|_| RecordError::Corrupt("the lz4 frame is truncated".into()))?;
        if !rest.is_empty() {
            return Err(RecordError::Corrupt(format!(
                "{} bytes follow the lz4 frame",
                rest.len()
            )));
        }
        Ok(())
    }
}

/// Snappy as Kafka's Java client writes it (snappy-java's framing: a header, then chunks of
/// a 4-byte length and a raw snappy block), or raw snappy without the header. Each chunk's
/// declared size is checked against the budget and snappy's expansion limit before its
/// output is allocated.
struct Snappy<'a> {
    rest: &'a [u8],
    framed: bool,
    chunk: Vec<u8>,
    at: usize,
    budget: u64,
}

impl<'a> Snappy<'a> {
    fn new(input: &'a [u8], budget: u64) -> Snappy<'a> {
        let framed = input.starts_with(XERIAL_MAGIC);
        Snappy {
            rest: input,
            framed,
            chunk: Vec::new(),
            at: 0,
            budget,
        }
    }

    /// Decodes the next chunk; false when the input is used up.
    fn next_chunk(&mut self) -> io::Result<bool> {
        let corrupt = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
        let compressed = if self.framed {
            // snappy-java reads concatenated streams: a header may start any chunk.
            if self.rest.starts_with(XERIAL_MAGIC) {
                if self.rest.len() < XERIAL_HEADER_BYTES {
                    return Err(corrupt("truncated snappy-java header".into()));
                }
                self.rest = &self.rest[XERIAL_HEADER_BYTES..];
            }
            if self.rest.is_empty() {
                return Ok(false);
            }
            let Some((length, rest)) = self.rest.split_first_chunk::<4>() else {
                return Err(corrupt("truncated snappy chunk length".into()));
            };
            let length = u32::from_be_bytes(*length) as usize;
            if length > rest.len() {
                return Err(corrupt(format!(
                    "snappy chunk of {length} bytes, {} left",
                    rest.len()
                )));
            }
            let (compressed, rest) = rest.split_at(length);
            self.rest = rest;
            compressed
        } else {
            if self.rest.is_empty() {
                return Ok(false);
            }
            std::mem::take(&mut self.rest)
        };
        let length = snap::raw::decompress_len(compressed).map_err(|e| corrupt(e.to_string()))?;
        if length > compressed.len().saturating_mul(SNAPPY_EXPANSION_MAX) {
            return Err(corrupt(format!(
                "a snappy chunk of {} bytes claims {length}",
                compressed.len()
            )));
        }
        if length as u64 > self.budget {
            return Err(corrupt(format!(
                "the batch inflates past {} bytes, the most this topic allows",
                self.budget
            )));
        }
        self.budget -= length as u64;
        self.chunk.clear();
        self.chunk.resize(length, 0);
        snap::raw::Decoder::new()
            .decompress(compressed, &mut self.chunk)
            .map_err(|e| corrupt(e.to_string()))?;
        self.at = 0;
        Ok(true)
    }
}

impl Read for Snappy<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            if !self.next_chunk()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Decompressor for Snappy<'_> {}

#[cfg(test)]
mod tests;
