//! The held-out validation family: traces the policy was not tuned on, generated deterministically
//! from seeds, so a test (and `bench/scaling/run --family`) can check that the policy holds on
//! traffic shapes beyond the five shipped traces.
//!
//! Five shapes, each with two seeds (the seed also varies the sites' sizes, phases and timings):
//! - `daily-noise-N`: a day of 6 sites on a day/night cycle with Gaussian noise of N% (5, 10, 15,
//!   20) per minute;
//! - `spikes`: 6 hours of 6 sites with random spikes of 2-5x lasting 2-30 minutes;
//! - `sawtooth`: 6 hours of 5 sites ramping up to 2-4x over 20-90 minutes, then dropping back;
//! - `steps`: 6 hours of 6 sites whose level steps up or down (0.4-2.5x) every 20-90 minutes;
//! - `mixed`: 6 hours of 30 small sites (under 5 req/s, noisy) and 3 large ones on a cycle with
//!   occasional 2-3x bursts.
//!
//! These traces are never written into `bench/scaling/traces`: the shipped five stay as they are.

use super::{Rng, Trace, build};
use std::f64::consts::TAU;

/// The seeds every shape is generated with.
pub const SEEDS: [u64; 2] = [101, 202];

/// The noise levels of the daily-cycle shape (standard deviation, as a fraction of the level).
pub const DAILY_NOISE: [f64; 4] = [0.05, 0.10, 0.15, 0.20];

/// Multiplicative Gaussian noise with standard deviation `sigma`, never below zero.
fn gauss_noise(rng: &mut Rng, sigma: f64) -> f64 {
    (1.0 + sigma * rng.gauss()).max(0.0)
}

/// Uniform in `[low, high)`.
fn between(rng: &mut Rng, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.next_f64()
}

/// A day of 6 sites on a day/night cycle with Gaussian noise `sigma` per minute.
pub fn daily_noise(sigma: f64, seed: u64) -> Trace {
    let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add((sigma * 100.0) as u64));
    let minutes = 1440;
    let sites = (0..6)
        .map(|i| {
            let peak = between(&mut rng, 15.0, 300.0);
            let phase = between(&mut rng, 0.0, 240.0);
            let trough = between(&mut rng, 0.05, 0.3);
            let values = (0..minutes)
                .map(|m| {
                    let t = (m as f64 - 14.0 * 60.0 - phase) / 1440.0 * TAU;
                    let shape = trough + (1.0 - trough) * (0.5 + 0.5 * t.cos()).powf(1.5);
                    peak * shape * gauss_noise(&mut rng, sigma)
                })
                .collect();
            (format!("d{i}"), values)
        })
        .collect();
    let name = format!("daily-noise-{:02}-s{seed}", (sigma * 100.0).round() as u32);
    build(&name, minutes, sites)
}

/// Six hours of 6 sites with random spikes of 2-5x lasting 2-30 minutes (reaching their height
/// within 1-2 minutes), on a base with 5% noise.
pub fn spikes(seed: u64) -> Trace {
    let mut rng = Rng::new(seed.wrapping_mul(37).wrapping_add(1));
    let minutes = 360;
    let sites = (0..6)
        .map(|i| {
            let base = between(&mut rng, 10.0, 120.0);
            let mut factor = vec![1.0; minutes];
            let mut m = (between(&mut rng, 10.0, 60.0)) as usize;
            while m < minutes {
                let height = between(&mut rng, 2.0, 5.0);
                let length = between(&mut rng, 2.0, 31.0) as usize;
                let rise = 1 + (rng.next_f64() < 0.5) as usize;
                for (k, f) in factor.iter_mut().skip(m).take(length).enumerate() {
                    *f = if k < rise {
                        1.0 + (height - 1.0) * (k + 1) as f64 / (rise + 1) as f64
                    } else {
                        height
                    };
                }
                m += length + between(&mut rng, 20.0, 90.0) as usize;
            }
            let values = factor
                .iter()
                .map(|f| base * f * gauss_noise(&mut rng, 0.05))
                .collect();
            (format!("p{i}"), values)
        })
        .collect();
    build(&format!("spikes-s{seed}"), minutes, sites)
}

/// Six hours of 5 sites whose demand ramps up to 2-4x over 20-90 minutes, then drops back at once.
pub fn sawtooth(seed: u64) -> Trace {
    let mut rng = Rng::new(seed.wrapping_mul(41).wrapping_add(2));
    let minutes = 360;
    let sites = (0..5)
        .map(|i| {
            let base = between(&mut rng, 10.0, 100.0);
            let period = between(&mut rng, 20.0, 90.0);
            let height = between(&mut rng, 2.0, 4.0);
            let offset = between(&mut rng, 0.0, period);
            let values = (0..minutes)
                .map(|m| {
                    let position = ((m as f64 + offset) % period) / period;
                    base * (1.0 + (height - 1.0) * position) * gauss_noise(&mut rng, 0.05)
                })
                .collect();
            (format!("w{i}"), values)
        })
        .collect();
    build(&format!("sawtooth-s{seed}"), minutes, sites)
}

/// Six hours of 6 sites whose level steps up or down (0.4-2.5x, kept within 5-400 req/s) every
/// 20-90 minutes, with 5% noise.
pub fn steps(seed: u64) -> Trace {
    let mut rng = Rng::new(seed.wrapping_mul(43).wrapping_add(3));
    let minutes = 360;
    let sites = (0..6)
        .map(|i| {
            let mut level: f64 = between(&mut rng, 10.0, 150.0);
            let mut next_step = between(&mut rng, 20.0, 90.0) as usize;
            let values = (0..minutes)
                .map(|m| {
                    if m == next_step {
                        let factor = if rng.next_f64() < 0.5 {
                            between(&mut rng, 1.3, 2.5)
                        } else {
                            between(&mut rng, 0.4, 0.77)
                        };
                        level = (level * factor).clamp(5.0, 400.0);
                        next_step = m + between(&mut rng, 20.0, 90.0) as usize;
                    }
                    level * gauss_noise(&mut rng, 0.05)
                })
                .collect();
            (format!("t{i}"), values)
        })
        .collect();
    build(&format!("steps-s{seed}"), minutes, sites)
}

/// Six hours of 30 small sites (0.5-5 req/s, 30% noise) and 3 large ones (100-400 req/s on a
/// 2-4 hour cycle, 10% noise, 2-3x bursts of 5-15 minutes every 1-3 hours).
pub fn mixed(seed: u64) -> Trace {
    let mut rng = Rng::new(seed.wrapping_mul(47).wrapping_add(4));
    let minutes = 360;
    let mut sites = Vec::new();
    for i in 0..30 {
        let base = between(&mut rng, 0.5, 5.0);
        let values = (0..minutes)
            .map(|_| base * gauss_noise(&mut rng, 0.3))
            .collect();
        sites.push((format!("small-{i:02}"), values));
    }
    for i in 0..3 {
        let base = between(&mut rng, 100.0, 400.0);
        let period = between(&mut rng, 120.0, 240.0);
        let mut burst = vec![1.0; minutes];
        let mut m = between(&mut rng, 20.0, 120.0) as usize;
        while m < minutes {
            let height = between(&mut rng, 2.0, 3.0);
            let length = between(&mut rng, 5.0, 16.0) as usize;
            for b in burst.iter_mut().skip(m).take(length) {
                *b = height;
            }
            m += length + between(&mut rng, 60.0, 180.0) as usize;
        }
        let values = (0..minutes)
            .map(|m| {
                let wave = 0.6 + 0.4 * (m as f64 / period * TAU).sin();
                base * wave * burst[m] * gauss_noise(&mut rng, 0.1)
            })
            .collect();
        sites.push((format!("large-{i}"), values));
    }
    build(&format!("mixed-s{seed}"), minutes, sites)
}

/// The whole family, in report order: every shape with every seed.
pub fn family() -> Vec<Trace> {
    family_with_seeds(&SEEDS)
}

/// Every shape with each of `seeds` (other seeds than [`SEEDS`] give traces no tuning saw).
pub fn family_with_seeds(seeds: &[u64]) -> Vec<Trace> {
    let mut out = Vec::new();
    for sigma in DAILY_NOISE {
        for &seed in seeds {
            out.push(daily_noise(sigma, seed));
        }
    }
    for shape in [spikes, sawtooth, steps, mixed] {
        for &seed in seeds {
            out.push(shape(seed));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_family_is_deterministic_and_its_names_are_unique() {
        let a = family();
        let b = family();
        assert_eq!(a, b);
        let names: std::collections::BTreeSet<_> = a.iter().map(|t| t.name.clone()).collect();
        assert_eq!(names.len(), a.len());
        assert_eq!(a.len(), 16);
        // Every trace round-trips through the documented CSV format.
        for t in &a {
            Trace::parse(&t.name, &t.to_csv()).unwrap();
        }
    }

    #[test]
    fn daily_noise_has_the_asked_for_spread() {
        for sigma in DAILY_NOISE {
            let t = daily_noise(sigma, SEEDS[0]);
            // Ratio of consecutive minutes: the cycle moves little in a minute, so its spread is
            // about sqrt(2) times the noise.
            let mut ratios = Vec::new();
            for values in t.sites.values() {
                for w in values.windows(2) {
                    if w[0] > 1.0 && w[1] > 1.0 {
                        ratios.push((w[1] / w[0]).ln());
                    }
                }
            }
            let n = ratios.len() as f64;
            let mean = ratios.iter().sum::<f64>() / n;
            let sd = (ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
            let expected = sigma * std::f64::consts::SQRT_2;
            assert!(
                (sd / expected - 1.0).abs() < 0.25,
                "sigma {sigma}: spread {sd}, expected about {expected}"
            );
        }
    }

    #[test]
    fn spikes_reach_two_to_five_times_the_base() {
        for seed in SEEDS {
            let t = spikes(seed);
            for (site, values) in &t.sites {
                let mut sorted = values.clone();
                sorted.sort_by(f64::total_cmp);
                let median = sorted[sorted.len() / 2];
                let peak = sorted[sorted.len() - 1];
                assert!(
                    (1.8..=5.6).contains(&(peak / median)),
                    "{site}: {}",
                    peak / median
                );
            }
        }
    }
}
