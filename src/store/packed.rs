//! The SQLite store's large texts, packed: the records as harvested, the
//! normalised records and the union records are stored as zstd frames made
//! with a dictionary trained on MARCXML (`store-dict-1.zdict`, made by
//! `scripts/train-store-dict.sh`), about a seventh of their size.
//!
//! Why: those three texts were four fifths of the store, about 10 KB of a
//! record's 12 KB on the LC corpus, and a record of 3 KB filled most of a
//! 4 KB page on its own. MARCXML repeats the same tags and attributes in
//! every record, so a shared dictionary does what compressing one record
//! at a time cannot; the texts stay lossless (byte for byte what was
//! stored before).
//!
//! A packed text is a BLOB: one byte naming the dictionary, then the zstd
//! frame. A TEXT value in the same column (written by hand, or by a build
//! before migration 11 packed the store) is read as it is. A dictionary
//! that has shipped is never changed or dropped: a new one takes the next
//! number and both stay readable.

use std::cell::RefCell;
use std::sync::OnceLock;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};

/// The first byte of a text packed with dictionary 1.
const DICT_1: u8 = 1;

/// Dictionary 1: 64 KiB trained on LC records in the three forms the store
/// holds (scripts/train-store-dict.sh).
static DICT_1_BYTES: &[u8] = include_bytes!("store-dict-1.zdict");

/// zstd's level. Level 3 (zstd's default) packs the LC sample about 3 %
/// smaller than level 1 at about the same speed with this dictionary.
const LEVEL: i32 = 3;

/// The largest text unpacked: far above any MARC record (ISO 2709 caps one
/// at 99,999 bytes; its MARCXML is at most a few times that), so that a
/// damaged frame claiming gigabytes is refused instead of allocated.
const MAX_TEXT: u64 = 64 << 20;

fn encoder_dict() -> &'static zstd::dict::EncoderDictionary<'static> {
    static DICT: OnceLock<zstd::dict::EncoderDictionary<'static>> = OnceLock::new();
    DICT.get_or_init(|| zstd::dict::EncoderDictionary::copy(DICT_1_BYTES, LEVEL))
}

fn decoder_dict() -> &'static zstd::dict::DecoderDictionary<'static> {
    static DICT: OnceLock<zstd::dict::DecoderDictionary<'static>> = OnceLock::new();
    DICT.get_or_init(|| zstd::dict::DecoderDictionary::copy(DICT_1_BYTES))
}

thread_local! {
    // One compression and one decompression context per thread: making one
    // costs more than packing a record, and they are not `Sync`.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Why a stored value could not be read as text.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The value's first byte names no dictionary this build knows.
    #[error("stored text packed with unknown dictionary {0} (a newer unicat wrote it?)")]
    UnknownDictionary(u8),
    /// The frame does not say how long its text is, or says too long.
    #[error("stored text's frame has no usable length")]
    BadLength,
    /// zstd refused the frame.
    #[error("stored text does not unpack: {0}")]
    Zstd(std::io::Error),
    /// The text is not UTF-8.
    #[error("stored text is not UTF-8")]
    NotUtf8,
}

/// `text` packed: the dictionary's byte, then a zstd frame.
pub fn pack(text: &str) -> Vec<u8> {
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let compressor = match cell.as_mut() {
            Some(c) => c,
            None => {
                let mut c = zstd::bulk::Compressor::with_prepared_dictionary(encoder_dict())
                    .expect("zstd compression context (out of memory?)");
                // A checksum of the text in each frame (4 bytes): a damaged
                // page is reported when read, never returned as a record.
                c.include_checksum(true)
                    .expect("zstd accepts its checksum flag");
                cell.insert(c)
            }
        };
        let mut out = Vec::with_capacity(text.len() / 4 + 64);
        out.push(DICT_1);
        // Compressing into a buffer of the worst-case size never fails
        // for lack of room; it fails only without memory.
        let start = out.len();
        out.resize(start + zstd::zstd_safe::compress_bound(text.len()), 0);
        let n = compressor
            .compress_to_buffer(text.as_bytes(), &mut out[start..])
            .expect("zstd compression into a buffer of its bound");
        out.truncate(start + n);
        out
    })
}

/// The text `bytes` were packed from.
pub fn unpack(bytes: &[u8]) -> Result<String, UnpackError> {
    let (&dict, frame) = bytes.split_first().ok_or(UnpackError::BadLength)?;
    if dict != DICT_1 {
        return Err(UnpackError::UnknownDictionary(dict));
    }
    let len = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n <= MAX_TEXT => n as usize,
        _ => return Err(UnpackError::BadLength),
    };
    let out = DECOMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let decompressor = match cell.as_mut() {
            Some(d) => d,
            None => cell.insert(
                zstd::bulk::Decompressor::with_prepared_dictionary(decoder_dict())
                    .map_err(UnpackError::Zstd)?,
            ),
        };
        decompressor
            .decompress(frame, len)
            .map_err(UnpackError::Zstd)
    })?;
    String::from_utf8(out).map_err(|_| UnpackError::NotUtf8)
}

/// A stored text as read, not yet unpacked: reading is the store thread's
/// work, unpacking can be a worker's (the dedup pass reads on one thread
/// and parses on all of them).
#[derive(Debug, Clone)]
pub enum Stored {
    /// Written as text (by hand, or by a store that does not pack).
    Text(String),
    /// Packed by [`pack`].
    Packed(Vec<u8>),
}

impl Stored {
    /// The text.
    pub fn into_text(self) -> Result<String, UnpackError> {
        match self {
            Stored::Text(t) => Ok(t),
            Stored::Packed(b) => unpack(&b),
        }
    }
}

impl FromSql for Stored {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(|s| Stored::Text(s.to_string()))
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            ValueRef::Blob(b) => Ok(Stored::Packed(b.to_vec())),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// A stored text read back: packed (BLOB) or as it was written (TEXT).
pub struct Text(pub String);

impl FromSql for Text {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Stored::column_result(value)?
            .into_text()
            .map(Text)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// Column `i` of a row as an optional stored text.
pub fn get(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
    Ok(row.get::<_, Option<Text>>(i)?.map(|t| t.0))
}

/// Adds `unicat_pack(text)` and `unicat_unpack(value)` to a connection:
/// migration 11 packs the stored texts with the first, and ad-hoc queries
/// (tests, a sysadmin's) read them with the second. NULL stays NULL; a
/// value already packed is left as it is, and a TEXT is returned as it is.
pub fn register(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("unicat_pack", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Text(t) => {
                let text = std::str::from_utf8(t)
                    .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
                let packed = pack(text);
                migration_progress();
                Some(packed)
            }
            ValueRef::Blob(b) => Some(b.to_vec()),
            _ => None,
        })
    })?;
    conn.create_scalar_function("unicat_unpack", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Null => None,
            value => Some(
                Text::column_result(value)
                    .map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?
                    .0,
            ),
        })
    })
}

/// Every 100,000 texts packed by a migration: a log line, and more time
/// from systemd, whose start timeout (90 s by default) a large store's
/// one-time packing would otherwise exceed.
fn migration_progress() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static PACKED: AtomicU64 = AtomicU64::new(0);
    let n = PACKED.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_multiple_of(100_000) {
        tracing::info!(texts = n, "upgrading the store: packing its texts");
        let _ = sd_notify::notify(
            false,
            &[sd_notify::NotifyState::ExtendTimeoutUsec(300_000_000)],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_come_back_byte_for_byte() {
        for text in [
            "",
            "<record><leader>00000nam a2200000 a 4500</leader></record>",
            "Бакы шәһәри · Qırmızı gül · Istorii︠a︡ Ukraïny · 東京",
            &"<datafield tag=\"650\" ind1=\" \" ind2=\"0\"><subfield code=\"a\">x</subfield></datafield>"
                .repeat(2_000),
        ] {
            let packed = pack(text);
            assert_eq!(packed[0], DICT_1);
            assert_eq!(unpack(&packed).unwrap(), text);
        }
    }

    #[test]
    fn marcxml_packs_to_under_a_quarter() {
        let record = include_str!("../../fixtures/demo/anl.xml");
        let packed = pack(record);
        assert!(
            packed.len() * 4 < record.len(),
            "{} -> {}",
            record.len(),
            packed.len()
        );
    }

    #[test]
    fn damaged_values_are_errors_not_panics() {
        let good = pack("<record/>");
        assert!(matches!(
            unpack(&[7, 1, 2, 3]),
            Err(UnpackError::UnknownDictionary(7))
        ));
        assert!(unpack(&[]).is_err());
        assert!(unpack(&good[..good.len() - 2]).is_err());
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        assert!(
            unpack(&flipped).is_err(),
            "the frame's checksum catches a flipped byte"
        );
    }
}
