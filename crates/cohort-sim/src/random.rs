//! Random streams. Every patient draws from its own generator derived from (seed, patient index),
//! so a patient's history is the same whatever the thread count, chunk size or sharding; the
//! arrival times come from a separate stream of their own.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

/// The generator every draw comes from.
pub type SimRng = Pcg64Mcg;

/// SplitMix64's finaliser: a bijection on u64 that spreads nearby inputs far apart.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Which stream of a run a generator belongs to.
#[derive(Debug, Clone, Copy)]
enum Stream {
    Patient(u64),
    Recruitment,
}

fn stream(seed: u64, which: Stream) -> SimRng {
    let (kind, index) = match which {
        Stream::Patient(i) => (1, i),
        Stream::Recruitment => (2, 0),
    };
    SimRng::seed_from_u64(splitmix64(splitmix64(seed) ^ splitmix64(kind)).wrapping_add(splitmix64(index)))
}

/// The generator of patient `index` (0-based) in a run with `seed`.
pub fn patient_rng(seed: u64, index: u64) -> SimRng {
    stream(seed, Stream::Patient(index))
}

/// The generator of a run's arrival times.
pub fn recruitment_rng(seed: u64) -> SimRng {
    stream(seed, Stream::Recruitment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let draw = |mut r: SimRng| (0..4).map(|_| r.random::<u64>()).collect::<Vec<_>>();
        assert_eq!(draw(patient_rng(42, 7)), draw(patient_rng(42, 7)));
        assert_ne!(draw(patient_rng(42, 7)), draw(patient_rng(42, 8)));
        assert_ne!(draw(patient_rng(42, 7)), draw(patient_rng(43, 7)));
        assert_ne!(draw(patient_rng(42, 0)), draw(recruitment_rng(42)));
    }
}
