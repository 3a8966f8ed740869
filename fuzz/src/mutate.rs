//! Byte-level mutations and the random numbers that drive them.
//!
//! The mutations are the ones that find bugs in parsers of length-prefixed
//! and delimited formats without coverage feedback: bit flips, "interesting"
//! bytes (delimiters, escapes, digits, UTF-8 lead bytes), deleting,
//! duplicating and splicing ranges, truncation, inserting tokens of the
//! format, and nudging digits (ISO 2709 lengths and offsets are decimal).

/// xorshift64*: small, fast, and reproducible from a seed; the fuzzer
/// needs no more (and takes no dependency for it).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced, as xorshift cannot leave it).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability 1/`n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Bytes that mean something to one of the formats.
const INTERESTING: &[u8] = &[
    0x00, 0x09, 0x0A, 0x0D, 0x1B, 0x1D, 0x1E, 0x1F, b' ', b'!', b'"', b'$', b'&', b'\'', b'(',
    b')', b'-', b'/', b'0', b'1', b'9', b';', b'<', b'=', b'>', b'?', b'E', b'a', 0x7F, 0x80, 0xA1,
    0xBF, 0xC0, 0xC3, 0xE0, 0xE2, 0xEB, 0xEC, 0xEF, 0xF0, 0xF4, 0xFE, 0xFF,
];

/// Longest input the fuzzer makes, so that memory and time per run stay
/// bounded.
pub const MAX_LEN: usize = 1 << 20;

/// Applies 1 to 8 random mutations to `data`. `other` is another corpus
/// entry to splice from; `dictionary` holds tokens of the format.
pub fn mutate(data: &mut Vec<u8>, other: &[u8], dictionary: &[&[u8]], rng: &mut Rng) {
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        mutate_once(data, other, dictionary, rng);
    }
    data.truncate(MAX_LEN);
}

/// A range length up to `max`: usually short, sometimes long.
fn span(rng: &mut Rng, max: usize) -> usize {
    if rng.one_in(8) {
        rng.below(max + 1)
    } else {
        rng.below(max.min(16) + 1)
    }
}

fn mutate_once(data: &mut Vec<u8>, other: &[u8], dictionary: &[&[u8]], rng: &mut Rng) {
    let len = data.len();
    let at = rng.below(len + 1);
    match rng.below(11) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = rng.next_u64() as u8;
        }
        2 if len > 0 => {
            let i = rng.below(len);
            data[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        3 => {
            let n = span(rng, len - at);
            data.drain(at..at + n);
        }
        4 => {
            let n = span(rng, len - at);
            let copy = data[at..at + n].to_vec();
            let to = rng.below(len + 1);
            data.splice(to..to, copy);
        }
        5 => {
            let token = dictionary[rng.below(dictionary.len())];
            data.splice(at..at, token.iter().copied());
        }
        6 => data.truncate(at),
        7 if !other.is_empty() => {
            let from = rng.below(other.len());
            let n = span(rng, other.len() - from);
            let chunk = &other[from..from + n];
            if rng.one_in(2) {
                data.splice(at..at, chunk.iter().copied());
            } else {
                let end = (at + n).min(len);
                data.splice(at..end, chunk.iter().copied());
            }
        }
        8 => {
            // Nudge a digit: lengths and offsets in ISO 2709, numbers in XML.
            if let Some(i) = (0..len)
                .map(|k| (at + k) % len)
                .take(64)
                .find(|&i| data[i].is_ascii_digit())
            {
                data[i] = b'0' + rng.below(10) as u8;
            }
        }
        9 => {
            // Repeat a token many times: deep nesting, long runs.
            let token = dictionary[rng.below(dictionary.len())];
            let times = 1 + rng.below(200);
            let run: Vec<u8> = token
                .iter()
                .copied()
                .cycle()
                .take(token.len() * times)
                .collect();
            data.splice(at..at, run);
        }
        _ => {
            let token = INTERESTING[rng.below(INTERESTING.len())];
            data.insert(at, token);
        }
    }
}
