//! Paging of the store's lists (executions, an execution's logs and dead letters): a
//! [`PageRequest`] (a [`Limit`] and the cursor to continue after) and a [`Page`] (the
//! items and the cursor of the next page, `None` at the end).
//!
//! A cursor is a position in the list, never an offset: the key of the last item
//! returned ([`ExecutionCursor`]: start time and id, newest first; [`LogCursor`] and
//! [`DeadLetterCursor`]: the sequence number, in order). So a page is read from an index
//! in O(limit), and records inserted or removed meanwhile never shift what the next page
//! holds: an execution that starts between two requests is not seen by the second (it is
//! newer than the cursor) and pushes nothing twice onto it. A SQL store reads the same
//! page as `WHERE (started_at, id) < ($1, $2) ORDER BY started_at DESC, id DESC LIMIT n`.
//!
//! Users see a cursor as opaque text (`nextCursor` of the HTTP API, `--cursor` of the
//! CLI): [`Cursor::encode`] writes it URL-safe, [`Cursor::decode`] refuses anything it did
//! not write (another list's cursor included) with a [`PageError`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::SyncExecution;

/// How many items a page holds: 1 to [`Limit::MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(usize);

impl Limit {
    /// What a list returns when the request names no limit.
    pub const DEFAULT: Limit = Limit(100);
    /// The largest page a request may ask for: a page is read and answered in memory.
    pub const MAX: Limit = Limit(1000);

    /// `n` items a page; an error unless `1 <= n <= 1000`.
    pub fn new(n: usize) -> Result<Limit, PageError> {
        if (1..=Limit::MAX.0).contains(&n) {
            Ok(Limit(n))
        } else {
            Err(PageError::Limit(n.to_string()))
        }
    }

    /// A limit written as text (a query parameter, an option).
    pub fn parse(text: &str) -> Result<Limit, PageError> {
        let shown = || text.chars().take(40).collect::<String>();
        match text.trim().parse::<usize>() {
            Ok(n) => Limit::new(n).map_err(|_| PageError::Limit(shown())),
            Err(_) => Err(PageError::Limit(shown())),
        }
    }

    pub fn get(self) -> usize {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Limit {
        Limit::DEFAULT
    }
}

/// A bad page request, as a user wrote it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// The limit is not a whole number from 1 to [`Limit::MAX`].
    #[error("the limit `{0}` is not a whole number from 1 to 1000")]
    Limit(String),
    /// The cursor is not one the store wrote for this list.
    #[error("the cursor is not one this list returned")]
    Cursor,
}

/// Which page of a list to read: at most `limit` items after `after` (from the start of
/// the list when `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest<C> {
    pub limit: Limit,
    pub after: Option<C>,
}

impl<C> Default for PageRequest<C> {
    /// The first page, of the default size.
    fn default() -> PageRequest<C> {
        PageRequest {
            limit: Limit::DEFAULT,
            after: None,
        }
    }
}

impl<C> PageRequest<C> {
    /// The first page of `limit` items.
    pub fn first(limit: Limit) -> PageRequest<C> {
        PageRequest { limit, after: None }
    }
}

/// One page of a list: its items, and where the next page starts (`None`: this is the
/// last page).
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

/// A position in a list, written as opaque, URL-safe text.
pub trait Cursor: Sized {
    fn encode(&self) -> String;
    /// Reads what [`Cursor::encode`] wrote; anything else (another list's cursor, an
    /// edited one) is [`PageError::Cursor`].
    fn decode(text: &str) -> Result<Self, PageError>;
}

/// Cursors longer than this are refused before they are decoded (they come from users).
const MAX_CURSOR_TEXT: usize = 1024;

/// The payload of a cursor written with `tag` (the list and the format's version) first, so
/// one list's cursor is refused by another.
pub(super) fn decode_tagged<'a>(
    text: &str,
    tag: &[u8],
    buf: &'a mut Vec<u8>,
) -> Result<&'a [u8], PageError> {
    if text.len() > MAX_CURSOR_TEXT {
        return Err(PageError::Cursor);
    }
    *buf = URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|_| PageError::Cursor)?;
    buf.strip_prefix(tag).ok_or(PageError::Cursor)
}

pub(super) fn encode_tagged(tag: &[u8], payload: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(tag.len() + payload.len());
    bytes.extend_from_slice(tag);
    bytes.extend_from_slice(payload);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A position in a newest-first list of executions: the last execution returned, by its
/// start time (in microseconds, as the store orders them) and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionCursor {
    /// `startedAt`, microseconds since the epoch.
    pub started_micros: i64,
    pub id: String,
}

impl ExecutionCursor {
    /// The position of `execution`: the next page holds the executions after it.
    pub fn at(execution: &SyncExecution) -> ExecutionCursor {
        ExecutionCursor {
            started_micros: execution.started_at.timestamp_micros(),
            id: execution.id.clone(),
        }
    }
}

impl Cursor for ExecutionCursor {
    fn encode(&self) -> String {
        let mut payload = self.started_micros.to_be_bytes().to_vec();
        payload.extend_from_slice(self.id.as_bytes());
        encode_tagged(b"e1", &payload)
    }

    fn decode(text: &str) -> Result<ExecutionCursor, PageError> {
        let mut buf = Vec::new();
        let payload = decode_tagged(text, b"e1", &mut buf)?;
        let (micros, id) = payload.split_first_chunk::<8>().ok_or(PageError::Cursor)?;
        let id = std::str::from_utf8(id).map_err(|_| PageError::Cursor)?;
        if id.is_empty() {
            return Err(PageError::Cursor);
        }
        Ok(ExecutionCursor {
            started_micros: i64::from_be_bytes(*micros),
            id: id.to_string(),
        })
    }
}

/// A position in an execution's log: the store's sequence number of the last line
/// returned (lines are numbered in the order they were stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogCursor {
    pub seq: u64,
}

impl Cursor for LogCursor {
    fn encode(&self) -> String {
        encode_tagged(b"l1", &self.seq.to_be_bytes())
    }

    fn decode(text: &str) -> Result<LogCursor, PageError> {
        let mut buf = Vec::new();
        let payload = decode_tagged(text, b"l1", &mut buf)?;
        let seq: [u8; 8] = payload.try_into().map_err(|_| PageError::Cursor)?;
        Ok(LogCursor {
            seq: u64::from_be_bytes(seq),
        })
    }
}

/// A position in an execution's dead letters: the `seq` of the last one returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadLetterCursor {
    pub seq: u64,
}

impl Cursor for DeadLetterCursor {
    fn encode(&self) -> String {
        encode_tagged(b"d1", &self.seq.to_be_bytes())
    }

    fn decode(text: &str) -> Result<DeadLetterCursor, PageError> {
        let mut buf = Vec::new();
        let payload = decode_tagged(text, b"d1", &mut buf)?;
        let seq: [u8; 8] = payload.try_into().map_err(|_| PageError::Cursor)?;
        Ok(DeadLetterCursor {
            seq: u64::from_be_bytes(seq),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        let cases: &[(&str, Result<usize, ()>)] = &[
            ("1", Ok(1)),
            ("100", Ok(100)),
            ("1000", Ok(1000)),
            (" 7 ", Ok(7)),
            ("0", Err(())),
            ("-1", Err(())),
            ("1001", Err(())),
            ("1e3", Err(())),
            ("", Err(())),
            ("99999999999999999999999", Err(())),
        ];
        for (text, want) in cases {
            let got = Limit::parse(text).map(Limit::get).map_err(|_| ());
            assert_eq!(&got, want, "{text:?}");
        }
        assert_eq!(
            Limit::parse("0").unwrap_err().to_string(),
            "the limit `0` is not a whole number from 1 to 1000"
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_what_they_did_not_write() {
        let e = ExecutionCursor {
            started_micros: -5,
            id: "0190-é:/x".into(),
        };
        assert_eq!(ExecutionCursor::decode(&e.encode()), Ok(e.clone()));
        let l = LogCursor { seq: u64::MAX };
        assert_eq!(LogCursor::decode(&l.encode()), Ok(l));
        let d = DeadLetterCursor { seq: 3 };
        assert_eq!(DeadLetterCursor::decode(&d.encode()), Ok(d));

        // Another list's cursor, edited or foreign text, oversized input.
        let bad = [
            l.encode(),
            d.encode(),
            "".to_string(),
            "not base64!".to_string(),
            URL_SAFE_NO_PAD.encode(b"e1"),
            URL_SAFE_NO_PAD.encode(b"e1\0\0\0\0\0\0\0\0"),
            URL_SAFE_NO_PAD.encode(b"e1\0\0\0\0\0\0\0\0\xff"),
            URL_SAFE_NO_PAD.encode(b"l1\0"),
            "A".repeat(MAX_CURSOR_TEXT + 4),
        ];
        for text in &bad {
            assert_eq!(
                ExecutionCursor::decode(text),
                Err(PageError::Cursor),
                "{text}"
            );
        }
        assert_eq!(LogCursor::decode(&e.encode()), Err(PageError::Cursor));
        assert_eq!(
            DeadLetterCursor::decode(&l.encode()),
            Err(PageError::Cursor)
        );
    }
}
