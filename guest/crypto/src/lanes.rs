//! Four 32-bit lanes: a wasm `v128` where SIMD128 is on, else an array.
//!
//! Only the operations the ciphers need, all of them constant time. The
//! bitsliced AES also reads the same 128 bits as two 64-bit lanes (its
//! shifts) and as 16 bytes (its fixed byte shuffles).

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::{
        i32x4_add, i32x4_shl, i32x4_shuffle, i64x2_shl, i64x2_shuffle, i8x16_shuffle, u32x4, u32x4_extract_lane,
        u32x4_shr, u32x4_splat, u64x2, u64x2_extract_lane, u64x2_shr, u64x2_splat, v128, v128_and, v128_not, v128_or,
        v128_xor,
    };

    use super::{halves, join};

    /// Four `u32` lanes in one `v128`.
    #[derive(Clone, Copy)]
    pub(crate) struct U32x4(v128);

    impl U32x4 {
        #[inline(always)]
        pub(crate) fn new(a: u32, b: u32, c: u32, d: u32) -> Self {
            Self(u32x4(a, b, c, d))
        }

        #[inline(always)]
        pub(crate) fn splat(x: u32) -> Self {
            Self(u32x4_splat(x))
        }

        #[inline(always)]
        pub(crate) fn to_array(self) -> [u32; 4] {
            [
                u32x4_extract_lane::<0>(self.0),
                u32x4_extract_lane::<1>(self.0),
                u32x4_extract_lane::<2>(self.0),
                u32x4_extract_lane::<3>(self.0),
            ]
        }

        #[inline(always)]
        pub(crate) fn add(self, o: Self) -> Self {
            Self(i32x4_add(self.0, o.0))
        }

        #[inline(always)]
        pub(crate) fn xor(self, o: Self) -> Self {
            Self(v128_xor(self.0, o.0))
        }

        /// Rotate each lane left by 16: a byte shuffle, cheaper than shifts.
        #[inline(always)]
        pub(crate) fn rotl16(self) -> Self {
            Self(i8x16_shuffle::<2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13>(
                self.0, self.0,
            ))
        }

        /// Rotate each lane left by 8: a byte shuffle.
        #[inline(always)]
        pub(crate) fn rotl8(self) -> Self {
            Self(i8x16_shuffle::<3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14>(
                self.0, self.0,
            ))
        }

        #[inline(always)]
        pub(crate) fn rotl<const N: u32>(self) -> Self {
            Self(v128_or(i32x4_shl(self.0, N), u32x4_shr(self.0, 32 - N)))
        }

        /// 16 bytes, little-endian: byte `i` is byte `i` of the vector.
        #[inline(always)]
        pub(crate) fn from_le_bytes(bytes: [u8; 16]) -> Self {
            let (lo, hi) = halves(bytes);
            Self(u64x2(lo, hi))
        }

        #[inline(always)]
        pub(crate) fn to_le_bytes(self) -> [u8; 16] {
            join(u64x2_extract_lane::<0>(self.0), u64x2_extract_lane::<1>(self.0))
        }

        /// The same 64-bit value in both halves.
        #[inline(always)]
        pub(crate) fn splat64(x: u64) -> Self {
            Self(u64x2_splat(x))
        }

        #[inline(always)]
        pub(crate) fn and(self, o: Self) -> Self {
            Self(v128_and(self.0, o.0))
        }

        #[inline(always)]
        pub(crate) fn not(self) -> Self {
            Self(v128_not(self.0))
        }

        /// Shift each 64-bit half left by `N` bits.
        #[inline(always)]
        pub(crate) fn shl64<const N: u32>(self) -> Self {
            Self(i64x2_shl(self.0, N))
        }

        /// Shift each 64-bit half right by `N` bits.
        #[inline(always)]
        pub(crate) fn shr64<const N: u32>(self) -> Self {
            Self(u64x2_shr(self.0, N))
        }

        /// AES ShiftRows on a state held column by column (byte `4c + r`
        /// is row `r` of column `c`): row `r` rotates left by `r`.
        #[inline(always)]
        pub(crate) fn shift_rows(self) -> Self {
            Self(i8x16_shuffle::<0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11>(
                self.0, self.0,
            ))
        }

        /// Within each 4-byte column, byte `r` takes byte `r + 1` (mod 4).
        #[inline(always)]
        pub(crate) fn rotate_columns_1(self) -> Self {
            Self(i8x16_shuffle::<1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12>(
                self.0, self.0,
            ))
        }

        /// Within each 4-byte column, byte `r` takes byte `r + 2` (mod 4).
        #[inline(always)]
        pub(crate) fn rotate_columns_2(self) -> Self {
            Self(i8x16_shuffle::<2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13>(
                self.0, self.0,
            ))
        }

        /// Transpose a 4×4 matrix of lanes: row `i` of the result holds
        /// lane `i` of each input.
        #[inline(always)]
        pub(crate) fn transpose(a: Self, b: Self, c: Self, d: Self) -> [Self; 4] {
            let ab_lo = i32x4_shuffle::<0, 4, 1, 5>(a.0, b.0);
            let ab_hi = i32x4_shuffle::<2, 6, 3, 7>(a.0, b.0);
            let cd_lo = i32x4_shuffle::<0, 4, 1, 5>(c.0, d.0);
            let cd_hi = i32x4_shuffle::<2, 6, 3, 7>(c.0, d.0);
            [
                Self(i64x2_shuffle::<0, 2>(ab_lo, cd_lo)),
                Self(i64x2_shuffle::<1, 3>(ab_lo, cd_lo)),
                Self(i64x2_shuffle::<0, 2>(ab_hi, cd_hi)),
                Self(i64x2_shuffle::<1, 3>(ab_hi, cd_hi)),
            ]
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    use super::{halves, join};

    /// Four `u32` lanes in an array: the portable fallback, same results.
    #[derive(Clone, Copy)]
    pub(crate) struct U32x4([u32; 4]);

    impl U32x4 {
        #[inline(always)]
        pub(crate) fn new(a: u32, b: u32, c: u32, d: u32) -> Self {
            Self([a, b, c, d])
        }

        #[inline(always)]
        pub(crate) fn splat(x: u32) -> Self {
            Self([x; 4])
        }

        #[inline(always)]
        pub(crate) fn to_array(self) -> [u32; 4] {
            self.0
        }

        #[inline(always)]
        fn map2(self, o: Self, f: impl Fn(u32, u32) -> u32) -> Self {
            let [a, b, c, d] = self.0;
            let [e, g, h, i] = o.0;
            Self([f(a, e), f(b, g), f(c, h), f(d, i)])
        }

        #[inline(always)]
        pub(crate) fn add(self, o: Self) -> Self {
            self.map2(o, u32::wrapping_add)
        }

        #[inline(always)]
        pub(crate) fn xor(self, o: Self) -> Self {
            self.map2(o, |x, y| x ^ y)
        }

        #[inline(always)]
        pub(crate) fn rotl16(self) -> Self {
            self.rotl::<16>()
        }

        #[inline(always)]
        pub(crate) fn rotl8(self) -> Self {
            self.rotl::<8>()
        }

        #[inline(always)]
        pub(crate) fn rotl<const N: u32>(self) -> Self {
            Self(self.0.map(|x| x.rotate_left(N)))
        }

        #[inline(always)]
        pub(crate) fn from_le_bytes(bytes: [u8; 16]) -> Self {
            Self(crate::le_words::<4>(&bytes))
        }

        #[inline(always)]
        pub(crate) fn to_le_bytes(self) -> [u8; 16] {
            let mut bytes = [0u8; 16];
            for (chunk, word) in bytes.chunks_exact_mut(4).zip(self.0) {
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            bytes
        }

        #[inline(always)]
        pub(crate) fn splat64(x: u64) -> Self {
            let (lo, hi) = (x as u32, (x >> 32) as u32);
            Self([lo, hi, lo, hi])
        }

        #[inline(always)]
        pub(crate) fn and(self, o: Self) -> Self {
            self.map2(o, |x, y| x & y)
        }

        #[inline(always)]
        pub(crate) fn not(self) -> Self {
            Self(self.0.map(|x| !x))
        }

        #[inline(always)]
        fn map64(self, f: impl Fn(u64) -> u64) -> Self {
            let (lo, hi) = halves(self.to_le_bytes());
            Self::from_le_bytes(join(f(lo), f(hi)))
        }

        #[inline(always)]
        pub(crate) fn shl64<const N: u32>(self) -> Self {
            self.map64(|x| x << N)
        }

        #[inline(always)]
        pub(crate) fn shr64<const N: u32>(self) -> Self {
            self.map64(|x| x >> N)
        }

        #[inline(always)]
        fn bytes_from(self, pattern: [usize; 16]) -> Self {
            let bytes = self.to_le_bytes();
            Self::from_le_bytes(pattern.map(|i| bytes.get(i).copied().unwrap_or(0)))
        }

        #[inline(always)]
        pub(crate) fn shift_rows(self) -> Self {
            self.bytes_from([0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11])
        }

        #[inline(always)]
        pub(crate) fn rotate_columns_1(self) -> Self {
            self.bytes_from([1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12])
        }

        #[inline(always)]
        pub(crate) fn rotate_columns_2(self) -> Self {
            self.bytes_from([2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13])
        }

        #[inline(always)]
        pub(crate) fn transpose(a: Self, b: Self, c: Self, d: Self) -> [Self; 4] {
            let (a, b, c, d) = (a.0, b.0, c.0, d.0);
            [
                Self([a[0], b[0], c[0], d[0]]),
                Self([a[1], b[1], c[1], d[1]]),
                Self([a[2], b[2], c[2], d[2]]),
                Self([a[3], b[3], c[3], d[3]]),
            ]
        }
    }
}

pub(crate) use imp::U32x4;

/// The two little-endian 64-bit halves of 16 bytes.
#[inline(always)]
fn halves(bytes: [u8; 16]) -> (u64, u64) {
    let (mut lo, mut hi) = ([0u8; 8], [0u8; 8]);
    lo.copy_from_slice(bytes.get(..8).unwrap_or(&[0; 8]));
    hi.copy_from_slice(bytes.get(8..).unwrap_or(&[0; 8]));
    (u64::from_le_bytes(lo), u64::from_le_bytes(hi))
}

/// [`halves`] undone.
#[inline(always)]
fn join(lo: u64, hi: u64) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    let (a, b) = bytes.split_at_mut(8);
    a.copy_from_slice(&lo.to_le_bytes());
    b.copy_from_slice(&hi.to_le_bytes());
    bytes
}
