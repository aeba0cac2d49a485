//! [`BigInt`]: a JavaScript BigInt as V8 holds it, sign and 64-bit words.
//!
//! Results keep the binary form: decimal text takes superlinear time (a
//! 2^20-bit BigInt took ~0.15 s, and a result of 510 of them 77 s after the
//! deadline machinery was off), so it is built only when asked for.

use std::fmt;
use std::str::FromStr;

use num_bigint::BigUint;

use crate::Error;

/// Bits of the largest BigInt converted either way (`MaxBigIntWords` words
/// in `shim/wire.def`).
pub const MAX_BIGINT_BITS: u64 = 1 << 20;

/// Decimal digits of the largest BigInt: 2^20 bits is 315,653 digits
/// (checked by a test). Longer text is refused before parsing, which also
/// takes superlinear time.
const MAX_BIGINT_DIGITS: usize = 315_653;

/// A JavaScript BigInt: a sign and a magnitude in 64-bit words, least
/// significant first, without trailing zero words (zero has none and is not
/// negative). `Display` and `FromStr` use decimal text.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct BigInt {
    negative: bool,
    // Boxed: keeps `Value` at 32 bytes.
    words: Box<[u64]>,
}

impl BigInt {
    /// The BigInt `±magnitude`, magnitude in 64-bit words, least significant first.
    pub fn from_words(negative: bool, mut words: Vec<u64>) -> BigInt {
        while words.last() == Some(&0) {
            words.pop();
        }
        let negative = negative && !words.is_empty();
        BigInt {
            negative,
            words: words.into_boxed_slice(),
        }
    }

    /// The BigInt `±magnitude`, magnitude in little-endian bytes (as Python's
    /// `int.to_bytes(n, "little")`).
    pub fn from_le_bytes(negative: bool, magnitude: &[u8]) -> BigInt {
        let words = magnitude
            .chunks(8)
            .map(|chunk| {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                u64::from_le_bytes(word)
            })
            .collect();
        BigInt::from_words(negative, words)
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The magnitude's 64-bit words, least significant first.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The magnitude in little-endian bytes, without trailing zero bytes.
    pub fn magnitude_le_bytes(&self) -> Vec<u8> {
        let mut bytes: Vec<u8> = self.words.iter().flat_map(|w| w.to_le_bytes()).collect();
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        bytes
    }

    /// Significant bits of the magnitude.
    pub fn bits(&self) -> u64 {
        match self.words.last() {
            None => 0,
            Some(top) => 64 * (self.words.len() as u64 - 1) + u64::from(64 - top.leading_zeros()),
        }
    }

    fn magnitude(&self) -> BigUint {
        BigUint::from_slice(
            &self
                .words
                .iter()
                .flat_map(|w| [*w as u32, (*w >> 32) as u32])
                .collect::<Vec<u32>>(),
        )
    }
}

/// Decimal, with a leading `-` when negative.
impl fmt::Display for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        write!(f, "{}", self.magnitude())
    }
}

/// Small values in decimal; large ones by size, since their decimal text
/// costs superlinear time.
impl fmt::Debug for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.words.len() <= 4 {
            write!(f, "{self}n")
        } else {
            let sign = if self.negative { "-" } else { "" };
            write!(f, "{sign}BigInt({} bits)", self.bits())
        }
    }
}

/// Decimal digits with an optional leading `-`, at most 315,653 of them
/// (2^20 bits); anything else is [`Error::InvalidInput`].
impl FromStr for BigInt {
    type Err = Error;

    fn from_str(text: &str) -> Result<BigInt, Error> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if digits.len() > MAX_BIGINT_DIGITS {
            return Err(Error::InvalidInput(format!(
                "BigInt of {} digits is larger than 2^20 bits",
                digits.len()
            )));
        }
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::InvalidInput(format!(
                "BigInt {text:?} is not a decimal integer"
            )));
        }
        let magnitude = BigUint::parse_bytes(digits.as_bytes(), 10).ok_or_else(|| {
            Error::InvalidInput(format!("BigInt {text:?} is not a decimal integer"))
        })?;
        Ok(BigInt::from_words(negative, magnitude.to_u64_digits()))
    }
}

macro_rules! from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for BigInt {
            fn from(n: $t) -> BigInt {
                #[allow(unused_comparisons)]
                let negative = n < 0;
                let magnitude = (n as i128).unsigned_abs();
                BigInt::from_words(negative, vec![magnitude as u64, (magnitude >> 64) as u64])
            }
        }
    )*};
}
from_integer!(i8, i16, i32, i64, i128, u8, u16, u32, u64, isize, usize);

impl From<u128> for BigInt {
    fn from(n: u128) -> BigInt {
        BigInt::from_words(false, vec![n as u64, (n >> 64) as u64])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A 315,653-digit decimal conversion, inside num-bigint: unfinished after
    // minutes under Miri here; it checks a constant, not memory handling.
    #[cfg(not(miri))]
    #[test]
    fn max_digits_is_the_decimal_length_of_the_largest_bigint() {
        let largest = (BigUint::from(1u8) << MAX_BIGINT_BITS) - 1u8;
        assert_eq!(largest.to_string().len(), MAX_BIGINT_DIGITS);
    }

    #[test]
    fn decimal_text_round_trips() {
        for text in [
            "0",
            "1",
            "-1",
            "18446744073709551615",
            "18446744073709551616",
            "-340282366920938463463374607431768211457",
        ] {
            assert_eq!(text.parse::<BigInt>().unwrap().to_string(), text);
        }
        assert_eq!("-0".parse::<BigInt>().unwrap(), BigInt::default());
        for bad in ["", "-", "1.5", "12abc", "+1", " 1"] {
            assert!(bad.parse::<BigInt>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn integers_bytes_and_words_agree() {
        assert_eq!(BigInt::from(-5i32).to_string(), "-5");
        assert_eq!(BigInt::from(u128::MAX).to_string(), u128::MAX.to_string());
        assert_eq!(BigInt::from(i128::MIN).to_string(), i128::MIN.to_string());
        let n = BigInt::from(0x0102_0304_0506_0708_090a_u128);
        assert_eq!(n.magnitude_le_bytes(), [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(BigInt::from_le_bytes(false, &n.magnitude_le_bytes()), n);
        assert_eq!(n.bits(), 73);
        assert_eq!(BigInt::from_words(true, vec![0, 0]), BigInt::from(0));
    }
}
