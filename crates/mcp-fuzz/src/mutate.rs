//! A small deterministic mutator, so that `cargo test` runs each oracle on the same inputs every time.

/// xorshift64*: a fixed sequence from a seed, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed` (0 is replaced: xorshift would stay at 0).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Tokens that JSON, SSE and HTTP parsers branch on, spliced in by [`mutate`].
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"-0",
    b"1e400",
    b"18446744073709551616",
    b"\\u0000",
    b"\\ud800",
    b"\n",
    b"\r",
    b"\r\n",
    b" ",
    b"\xff",
    b"\xef\xbb\xbf",
    b"data:",
    b"id:",
    b"event:",
    b"retry:",
    b"\"id\"",
    b"\"method\"",
    b"\"params\"",
    b"\"_meta\"",
    b"\"jsonrpc\":\"2.0\"",
];

/// `seed` changed in one to four places: a byte flipped, a range dropped or repeated, a token inserted, or a
/// piece of `other` spliced in.
pub fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            2 => {
                let end = (at + rng.below(16)).min(out.len());
                let piece = out[at..end].to_vec();
                out.splice(at..at, piece);
            }
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, t.iter().copied());
            }
            _ if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + rng.below(64)).min(other.len());
                out.splice(at..at, other[from..end].iter().copied());
            }
            _ => {}
        }
    }
    out
}

/// Run `oracle` on every seed, then on `rounds` mutations of them.
pub fn run<S: AsRef<[u8]>>(seeds: &[S], rounds: usize, mut oracle: impl FnMut(&[u8])) {
    let seeds: Vec<&[u8]> = seeds.iter().map(AsRef::as_ref).collect();
    for s in &seeds {
        oracle(s);
    }
    let mut rng = Rng::new(0x6d63_702d_6675_7a7a);
    for _ in 0..rounds {
        let seed = seeds[rng.below(seeds.len())];
        let other = seeds[rng.below(seeds.len())];
        oracle(&mutate(&mut rng, seed, other));
    }
}
