//! Four 32-bit lanes: a wasm `v128` where SIMD128 is on, else an array.
//!
//! Only the operations the ciphers need, all of them constant time.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::{
        i32x4_add, i32x4_shl, i32x4_shuffle, i64x2_shuffle, i8x16_shuffle, u32x4, u32x4_extract_lane, u32x4_shr,
        u32x4_splat, v128, v128_or, v128_xor,
    };

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
