//! The decompressing reader under the tar parser: counts every byte that
//! comes out of gzip and refuses past the limits (the gzip-bomb and
//! header-record defences), recording why in a [`Fault`] that
//! [`Failure::resolve`] turns into the verdict the caller sees.

use std::cell::Cell;
use std::io::{self, Read};

use crate::error::{shown, TarballError};
use crate::limits::Limits;

/// Something the decompressing reader observed before it returned an error.
/// The tar crate passes reader errors through as plain `io::Error`s, so the
/// reader records the real cause here for [`Failure::resolve`].
pub(crate) enum Fault {
    Gzip(String),
    TooLarge,
    HeaderTooLarge,
}

/// An error inside the scan: either already a verdict, or an I/O error whose
/// cause must be looked up in the recorded [`Fault`].
pub(crate) enum Failure {
    Io(io::Error),
    Refused(TarballError),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

impl From<TarballError> for Failure {
    fn from(e: TarballError) -> Self {
        Failure::Refused(e)
    }
}

impl Failure {
    pub(crate) fn resolve(self, fault: Option<Fault>, limits: &Limits) -> TarballError {
        match (self, fault) {
            (Failure::Refused(e), _) => e,
            (Failure::Io(_), Some(Fault::TooLarge)) => TarballError::TooLarge {
                limit: limits.max_unpacked_size,
            },
            (Failure::Io(_), Some(Fault::HeaderTooLarge)) => TarballError::HeaderTooLarge {
                limit: limits.max_header_bytes,
            },
            (Failure::Io(_), Some(Fault::Gzip(message))) => TarballError::InvalidGzip { message },
            (Failure::Io(e), None) => TarballError::InvalidTar {
                message: shown(&e.to_string()),
            },
        }
    }
}

/// Counts decompressed bytes and fails once more than `limit` have come out:
/// the gzip-bomb defence. It never asks the decoder for more than one byte
/// past the limit, so the work done is bounded by the limit too.
///
/// While the tar crate is between entries (`between` holds the bytes read
/// since the last entry was handed out) it reads header blocks and the
/// records it buffers whole (GNU long names and links, PAX extended
/// headers); there the reader allows only `header_limit` bytes, so a record
/// that claims 500 MiB costs at most that much memory before it is refused.
pub(crate) struct Bounded<'f, R> {
    pub(crate) inner: R,
    pub(crate) read: u64,
    pub(crate) limit: u64,
    pub(crate) between: &'f Cell<Option<u64>>,
    pub(crate) header_limit: u64,
    pub(crate) fault: &'f Cell<Option<Fault>>,
}

impl<R> Bounded<'_, R> {
    fn record(&self, fault: Fault) {
        let first = self.fault.take().unwrap_or(fault);
        self.fault.set(Some(first));
    }
}

impl<R: Read> Read for Bounded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut allowed = self.limit.saturating_sub(self.read).saturating_add(1);
        if let Some(header_read) = self.between.get() {
            allowed = allowed.min(
                self.header_limit
                    .saturating_sub(header_read)
                    .saturating_add(1),
            );
        }
        let len = usize::try_from(allowed).map_or(buf.len(), |a| a.min(buf.len()));
        let Some(window) = buf.get_mut(..len) else {
            return Ok(0);
        };
        let n = match self.inner.read(window) {
            Ok(n) => n,
            Err(e) => {
                self.record(Fault::Gzip(e.to_string()));
                return Err(e);
            }
        };
        self.read = self.read.saturating_add(n as u64);
        if self.read > self.limit {
            self.record(Fault::TooLarge);
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        if let Some(header_read) = self.between.get() {
            let header_read = header_read.saturating_add(n as u64);
            self.between.set(Some(header_read));
            if header_read > self.header_limit {
                self.record(Fault::HeaderTooLarge);
                return Err(io::Error::other("tar header record limit exceeded"));
            }
        }
        Ok(n)
    }
}
