//! Seeded, resumable sample order per epoch.
//!
//! The reference shuffles with an unseeded `DataLoader(shuffle=True)` (SPEC.md Q1). Here
//! epoch `e` visits the samples in a Fisher–Yates permutation drawn from ChaCha8 seeded with
//! the run's seed on stream `e`: the order of any epoch can be recomputed on its own, so a
//! run resumed at (epoch, batch) sees exactly the batches the interrupted run would have.
//! Batches are consecutive slices of the order; the last one may be smaller
//! (`drop_last=False`, as the reference).

use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Sample order and batching for a data set of `len` samples.
///
/// ```
/// use mllmu::train::EpochSampler;
/// let s = EpochSampler::new(42, 10, 4).unwrap();
/// assert_eq!(s.num_batches(), 3);
/// let all: Vec<usize> = (0..3).flat_map(|i| s.batch(0, i).unwrap()).collect();
/// assert_eq!(all, s.order(0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochSampler {
    /// The run's seed.
    pub seed: u64,
    /// Number of samples.
    pub len: usize,
    /// Samples per batch.
    pub batch_size: usize,
    /// Shuffle each epoch (the reference does); `false` keeps the data order.
    pub shuffle: bool,
}

impl EpochSampler {
    /// A shuffling sampler (checked: `batch_size >= 1`).
    pub fn new(seed: u64, len: usize, batch_size: usize) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::param("batch_size", 0, "must be at least 1"));
        }
        Ok(EpochSampler {
            seed,
            len,
            batch_size,
            shuffle: true,
        })
    }

    /// Batches per epoch, the last one possibly partial.
    pub fn num_batches(&self) -> usize {
        self.len.div_ceil(self.batch_size)
    }

    /// The sample indices of epoch `epoch`, in visiting order.
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len).collect();
        if self.shuffle {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
            rng.set_stream(epoch as u64);
            for i in (1..order.len()).rev() {
                let j = rng.gen_range(0..=i as u64) as usize;
                order.swap(i, j);
            }
        }
        order
    }

    /// Batch `index` of epoch `epoch`.
    pub fn batch(&self, epoch: usize, index: usize) -> Result<Vec<usize>> {
        if index >= self.num_batches() {
            return Err(Error::param(
                "batch_in_epoch",
                index,
                format!(
                    "an epoch has {} batches of {} samples",
                    self.num_batches(),
                    self.batch_size
                ),
            ));
        }
        let order = self.order(epoch);
        let start = index * self.batch_size;
        Ok(order[start..(start + self.batch_size).min(self.len)].to_vec())
    }

    /// The batches of `epoch` from batch `start` on (resume inside an epoch).
    pub fn batches_from(&self, epoch: usize, start: usize) -> Vec<Vec<usize>> {
        self.order(epoch)
            .chunks(self.batch_size)
            .skip(start)
            .map(<[usize]>::to_vec)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_permutations_seeded_and_differ_by_epoch() {
        let s = EpochSampler::new(7, 50, 4).unwrap();
        let (a, b) = (s.order(0), s.order(1));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(a, b);
        assert_ne!(a, (0..50).collect::<Vec<_>>());
        assert_eq!(a, EpochSampler::new(7, 50, 4).unwrap().order(0));
        assert_ne!(a, EpochSampler::new(8, 50, 4).unwrap().order(0));
    }

    #[test]
    fn resuming_mid_epoch_gives_the_remaining_batches() {
        let s = EpochSampler::new(3, 11, 3).unwrap();
        let full = s.batches_from(2, 0);
        assert_eq!(full.len(), 4);
        assert_eq!(full[3].len(), 2);
        assert_eq!(s.batches_from(2, 2), full[2..].to_vec());
        assert_eq!(s.batch(2, 1).unwrap(), full[1]);
        let e = s.batch(2, 4).unwrap_err().to_string();
        assert!(e.contains("an epoch has 4 batches of 3 samples"), "{e}");
    }

    #[test]
    fn no_shuffle_keeps_order_and_zero_batch_is_rejected() {
        let s = EpochSampler {
            shuffle: false,
            ..EpochSampler::new(1, 5, 2).unwrap()
        };
        assert_eq!(s.order(3), vec![0, 1, 2, 3, 4]);
        assert!(EpochSampler::new(1, 5, 0).is_err());
        assert_eq!(EpochSampler::new(1, 0, 2).unwrap().num_batches(), 0);
    }
}
