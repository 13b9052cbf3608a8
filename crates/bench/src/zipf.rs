//! A Zipf sampler over ranks `0..n` by inverse CDF: rank `k` (0-based) is drawn with
//! probability proportional to `1 / (k + 1)^s`. The cumulative weights are computed once, and a
//! draw is one uniform number and a binary search, so it is cheap enough for the hot path.

use rand::Rng;

/// Zipf distribution over `0..n` with exponent `s`.
#[derive(Clone, Debug)]
pub struct Zipf {
    /// `cdf[k]` = sum of the weights of ranks `0..=k`.
    cdf: Vec<f64>,
}

impl Zipf {
    /// A sampler over `n` ranks (`n` is raised to 1 if 0) with exponent `s` (1.0 is classic
    /// Zipf; 0.0 is uniform).
    pub fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let cdf = (0..n.max(1))
            .map(|k| {
                total += 1.0 / ((k + 1) as f64).powf(s);
                total
            })
            .collect();
        Zipf { cdf }
    }

    /// Number of ranks.
    #[cfg(test)]
    pub fn ranks(&self) -> usize {
        self.cdf.len()
    }

    /// Probability of drawing `rank`.
    #[cfg(test)]
    pub fn probability(&self, rank: usize) -> f64 {
        let total = *self.cdf.last().expect("at least one rank");
        let below = if rank == 0 { 0.0 } else { self.cdf[rank - 1] };
        (self.cdf[rank] - below) / total
    }

    /// Draws one rank in `0..ranks()`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let total = *self.cdf.last().expect("at least one rank");
        let u = rng.random::<f64>() * total;
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn probabilities_follow_one_over_rank_and_sum_to_one() {
        let z = Zipf::new(100, 1.0);
        let h100: f64 = (1..=100).map(|k| 1.0 / k as f64).sum();
        assert!((z.probability(0) - 1.0 / h100).abs() < 1e-12);
        assert!((z.probability(1) - 0.5 / h100).abs() < 1e-12);
        let sum: f64 = (0..100).map(|k| z.probability(k)).sum();
        assert!((sum - 1.0).abs() < 1e-9);
    }

    #[test]
    fn sampled_frequencies_match_the_distribution() {
        let n = 50;
        let z = Zipf::new(n, 1.0);
        let mut rng = SmallRng::seed_from_u64(7);
        let draws = 200_000;
        let mut counts = vec![0u64; n];
        for _ in 0..draws {
            let k = z.sample(&mut rng);
            assert!(k < n);
            counts[k] += 1;
        }
        for rank in [0, 1, 4, 20] {
            let seen = counts[rank] as f64 / draws as f64;
            let want = z.probability(rank);
            assert!(
                (seen - want).abs() < 0.01 + want * 0.05,
                "rank {rank}: saw {seen}, want {want}"
            );
        }
        // Rank 0 is drawn about twice as often as rank 1 and ten times as often as rank 9.
        let r01 = counts[0] as f64 / counts[1] as f64;
        let r09 = counts[0] as f64 / counts[9] as f64;
        assert!((1.8..2.2).contains(&r01), "{r01}");
        assert!((8.5..11.5).contains(&r09), "{r09}");
    }

    #[test]
    fn exponent_zero_is_uniform_and_one_rank_is_always_zero() {
        let z = Zipf::new(4, 0.0);
        for k in 0..4 {
            assert!((z.probability(k) - 0.25).abs() < 1e-12);
        }
        let one = Zipf::new(0, 1.0);
        assert_eq!(one.ranks(), 1);
        let mut rng = SmallRng::seed_from_u64(1);
        assert!((0..100).all(|_| one.sample(&mut rng) == 0));
    }
}
