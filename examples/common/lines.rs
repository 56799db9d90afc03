//! One line, one record: a reader between an input file and the CSV parser that keeps a
//! quote opened on one line from swallowing the lines after it.
//!
//! CSV lets a quoted field run over line ends, so a single stray quote makes the parser
//! read the rest of the file (or up to the next stray quote) as one field: one "bad
//! line" that hides all the others, good ones included. The files read here (readings
//! and meter catalogs) never hold a line end inside a field, so [`LineGuard`] holds each
//! line back until its end, and a line with an odd number of `"` (a quote that does not
//! close on its line) or longer than [`MAX_LINE_BYTES`] is handed on with its quotes
//! turned into `'`, which the parser takes as plain bytes, and noted as bad in
//! [`BadLineNotes`] under the byte offset where it starts, for the record that the CSV
//! parser reads over it. Every other byte passes unchanged, so line numbers and
//! offsets stay those of the file.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::rc::Rc;

/// Longest line taken as a record, in bytes: a reading's line (meter id of at most 256
/// bytes, a timestamp and a value) or a catalog line is far shorter.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Bytes read from the inner reader at a time: as much as `open_input`'s buffer holds,
/// so that it hands its reads through instead of copying them.
const CHUNK: usize = 1 << 20;

/// Lines the guard found bad, by the byte offset where each starts, in file order, for
/// the record loop to pick up.
#[derive(Clone, Default)]
pub struct BadLineNotes(Rc<RefCell<VecDeque<(u64, String)>>>);

impl BadLineNotes {
    /// The reason the record just read is bad, if the guard noted a line in it: `end`
    /// is the reader's offset after the record. Forgets the notes before `end`.
    pub fn take_before(&self, end: u64) -> Option<String> {
        let mut q = self.0.borrow_mut();
        let mut reason = None;
        while q.front().is_some_and(|f| f.0 < end) {
            let f = q.pop_front().map(|f| f.1);
            reason = reason.or(f);
        }
        reason
    }

    fn note(&self, offset: u64, reason: String) {
        self.0.borrow_mut().push_back((offset, reason));
    }
}

/// See the module documentation.
pub struct LineGuard<R> {
    inner: R,
    /// `buf[start..ready]` is checked and waits to be read; `buf[line_start..end]` is the
    /// line in progress, of which `buf[line_start..scan]` is examined and holds `quotes`
    /// quotes. `buf` keeps its length; `end` is how much of it holds input.
    buf: Vec<u8>,
    end: usize,
    start: usize,
    ready: usize,
    line_start: usize,
    scan: usize,
    quotes: usize,
    /// Offset in the input of `buf[0]`.
    base: u64,
    /// The line in progress is too long: passed on as it comes, quotes turned.
    long: bool,
    eof: bool,
    notes: BadLineNotes,
}

/// Wraps `inner`; the notes fill as the guard is read.
pub fn guard<R: Read>(inner: R) -> (LineGuard<R>, BadLineNotes) {
    let notes = BadLineNotes::default();
    let g = LineGuard {
        inner,
        buf: vec![0; CHUNK + MAX_LINE_BYTES + 1],
        end: 0,
        start: 0,
        ready: 0,
        line_start: 0,
        scan: 0,
        quotes: 0,
        base: 0,
        long: false,
        eof: false,
        notes: notes.clone(),
    };
    (g, notes)
}

fn turn_quotes(b: &mut [u8]) {
    for c in b.iter_mut().filter(|c| **c == b'"') {
        *c = b'\'';
    }
}

impl<R: Read> LineGuard<R> {
    /// Ends the line in progress at `end` (its line end, or the end of the file).
    fn end_line(&mut self, end: usize) {
        if !self.long && self.quotes % 2 == 1 {
            turn_quotes(&mut self.buf[self.line_start..end]);
            self.notes.note(
                self.base + self.line_start as u64,
                "a quote opened on this line does not close on it (a field may not span lines)"
                    .into(),
            );
        }
        self.long = false;
        self.quotes = 0;
    }

    /// Examines `buf[scan..]`, moving `ready` past every line that is complete.
    fn examine(&mut self) {
        let end = self.end;
        let fresh = &self.buf[self.scan..end];
        if self.long {
            // Passed on as it comes, up to and including its line end.
            let stop = fresh.iter().position(|&c| c == b'\n');
            let to = stop.map_or(end, |i| self.scan + i + 1);
            turn_quotes(&mut self.buf[self.scan..to]);
            self.ready = to;
            self.scan = to;
            self.line_start = to;
            if stop.is_some() {
                self.end_line(to);
            }
            if to < end {
                self.examine();
            }
            return;
        }
        if self.quotes == 0 && !fresh.contains(&b'"') {
            // No quote (the common case, kept cheap): every complete line is good.
            if let Some(last) = fresh.iter().rposition(|&c| c == b'\n') {
                self.line_start = self.scan + last + 1;
                self.ready = self.line_start;
            }
            self.scan = end;
        } else {
            while let Some(i) = self.buf[self.scan..end].iter().position(|&c| c == b'\n') {
                let nl = self.scan + i;
                self.quotes += self.buf[self.scan..nl]
                    .iter()
                    .filter(|&&c| c == b'"')
                    .count();
                self.end_line(nl);
                self.line_start = nl + 1;
                self.ready = self.line_start;
                self.scan = self.line_start;
            }
            self.quotes += self.buf[self.scan..end]
                .iter()
                .filter(|&&c| c == b'"')
                .count();
            self.scan = end;
        }
        if end - self.line_start > MAX_LINE_BYTES {
            self.long = true;
            self.notes.note(
                self.base + self.line_start as u64,
                format!("line longer than {MAX_LINE_BYTES} bytes (a quote left open?)"),
            );
            turn_quotes(&mut self.buf[self.line_start..end]);
            self.ready = end;
            self.line_start = end;
        }
    }

    /// Reads more from the inner reader; at its end, completes the last line.
    fn fill(&mut self) -> io::Result<()> {
        // What was handed out is dropped; the line in progress (at most
        // MAX_LINE_BYTES, or it would have been passed on as too long) moves to the front.
        self.buf.copy_within(self.start..self.end, 0);
        self.base += self.start as u64;
        self.end -= self.start;
        self.ready -= self.start;
        self.line_start -= self.start;
        self.scan -= self.start;
        self.start = 0;
        let old = self.end;
        let room = (self.buf.len() - old).min(CHUNK);
        let n = loop {
            match self.inner.read(&mut self.buf[old..old + room]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        self.end = old + n;
        if n == 0 {
            self.eof = true;
            let end = self.end;
            if self.line_start < end {
                self.end_line(end);
            }
            self.ready = end;
            self.line_start = end;
            self.scan = end;
        } else {
            self.examine();
        }
        Ok(())
    }
}

impl<R: Read> Read for LineGuard<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.start == self.ready && !self.eof {
            self.fill()?;
        }
        let n = out.len().min(self.ready - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}
