//! Traffic traces: the CSV files the simulator replays, and the generators of the shipped set.
//!
//! Format (documented in bench/scaling/README.md): UTF-8 text, one record per line,
//! `minute,site,demand` where `minute` is a whole minute from 0, `site` a site name (letters,
//! digits, `-`), `demand` the site's mean requests per second over that minute (a non-negative
//! decimal). An optional first line `minute,site,demand` is a header; blank lines and lines
//! starting with `#` are ignored. A site missing at a minute has demand 0 then. Records need not
//! be sorted; a (minute, site) pair may appear once.
//!
//! [`family`] generates the held-out validation family (never shipped as files).

use std::collections::BTreeMap;

pub mod family;

/// A parsed trace: demand per minute per site.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trace {
    /// Name (the file stem).
    pub name: String,
    /// Number of minutes (one past the last minute present).
    pub minutes: usize,
    /// Demand per site, one value per minute.
    pub sites: BTreeMap<String, Vec<f64>>,
}

/// Errors reading a trace.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TraceError {
    /// A line is not `minute,site,demand`.
    #[error("{trace}:{line}: {problem}; expected `minute,site,demand` (e.g. `12,shop,40.5`)")]
    Line {
        /// Trace name.
        trace: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// The trace has no record.
    #[error("{0}: no records; a trace needs at least one `minute,site,demand` line")]
    Empty(String),
}

const MAX_MINUTES: usize = 60 * 24 * 31;

impl Trace {
    /// Parses CSV text (see the module documentation).
    pub fn parse(name: &str, text: &str) -> Result<Trace, TraceError> {
        let mut records: BTreeMap<(String, usize), f64> = BTreeMap::new();
        let mut minutes = 0;
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let err = |problem: String| TraceError::Line {
                trace: name.to_string(),
                line: index + 1,
                problem,
            };
            if line.is_empty()
                || line.starts_with('#')
                || (index == 0 && line == "minute,site,demand")
            {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() != 3 {
                return Err(err(format!("{} fields", fields.len())));
            }
            let minute: usize = fields[0]
                .parse()
                .map_err(|_| err(format!("minute `{}` is not a whole number", fields[0])))?;
            if minute >= MAX_MINUTES {
                return Err(err(format!("minute {minute} is beyond 31 days")));
            }
            let site = fields[1];
            if site.is_empty()
                || site.len() > 63
                || !site.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(err(format!(
                    "site `{site}` must be 1-63 letters, digits or `-`"
                )));
            }
            let demand: f64 = fields[2]
                .parse()
                .map_err(|_| err(format!("demand `{}` is not a number", fields[2])))?;
            if !demand.is_finite() || demand < 0.0 {
                return Err(err(format!("demand {demand} must be finite and >= 0")));
            }
            if records.insert((site.to_string(), minute), demand).is_some() {
                return Err(err(format!("minute {minute} of site {site} appears twice")));
            }
            minutes = minutes.max(minute + 1);
        }
        if records.is_empty() {
            return Err(TraceError::Empty(name.to_string()));
        }
        let mut sites: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for ((site, minute), demand) in records {
            sites.entry(site).or_insert_with(|| vec![0.0; minutes])[minute] = demand;
        }
        Ok(Trace {
            name: name.to_string(),
            minutes,
            sites,
        })
    }

    /// Writes the trace as CSV with a header.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("minute,site,demand\n");
        for minute in 0..self.minutes {
            for (site, demand) in &self.sites {
                out.push_str(&format!("{minute},{site},{:.2}\n", demand[minute]));
            }
        }
        out
    }
}

/// A small deterministic generator (xorshift64*), so shipped traces regenerate byte for byte.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (a zero seed is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (v >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A standard normal sample (Box-Muller).
    pub fn gauss(&mut self) -> f64 {
        let u1 = self.next_f64().max(1e-12);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    /// Multiplicative noise in [1 - amp, 1 + amp].
    pub fn noise(&mut self, amp: f64) -> f64 {
        1.0 + amp * (2.0 * self.next_f64() - 1.0)
    }
}

fn build(name: &str, minutes: usize, sites: Vec<(String, Vec<f64>)>) -> Trace {
    Trace {
        name: name.to_string(),
        minutes,
        sites: sites.into_iter().collect(),
    }
}

/// A day (1,440 minutes) of 8 sites following a day/night cycle with different peaks and phases.
pub fn daily_cycle() -> Trace {
    let mut rng = Rng::new(1);
    let minutes = 1440;
    let peaks = [320.0, 180.0, 120.0, 90.0, 60.0, 40.0, 25.0, 12.0];
    let sites = peaks
        .iter()
        .enumerate()
        .map(|(i, peak)| {
            let phase = i as f64 * 20.0;
            let values = (0..minutes)
                .map(|m| {
                    let t = (m as f64 - 14.0 * 60.0 - phase) / 1440.0 * std::f64::consts::TAU;
                    let shape = 0.12 + 0.88 * (0.5 + 0.5 * t.cos()).powf(1.5);
                    peak * shape * rng.noise(0.08)
                })
                .collect();
            (format!("site-{i}"), values)
        })
        .collect();
    build("daily-cycle", minutes, sites)
}

/// Three hours of 5 sites; one jumps to 10x its traffic within two minutes at minute 60, holds
/// for 30 minutes and decays over 30.
pub fn flash_crowd() -> Trace {
    let mut rng = Rng::new(2);
    let minutes = 180;
    let bases = [60.0, 40.0, 30.0, 20.0, 10.0];
    let sites = bases
        .iter()
        .enumerate()
        .map(|(i, base)| {
            let values = (0..minutes)
                .map(|m| {
                    let factor = if i != 0 || m < 60 {
                        1.0
                    } else if m < 62 {
                        1.0 + 9.0 * (m - 59) as f64 / 2.0
                    } else if m < 92 {
                        10.0
                    } else if m < 122 {
                        10.0 - 9.0 * (m - 91) as f64 / 30.0
                    } else {
                        1.0
                    };
                    base * factor.min(10.0) * rng.noise(0.05)
                })
                .collect();
            (format!("site-{i}"), values)
        })
        .collect();
    build("flash-crowd", minutes, sites)
}

/// Twelve hours of 6 sites growing steadily to three times their starting traffic.
pub fn slow_growth() -> Trace {
    let mut rng = Rng::new(3);
    let minutes = 720;
    let bases = [80.0, 50.0, 40.0, 30.0, 20.0, 10.0];
    let sites = bases
        .iter()
        .enumerate()
        .map(|(i, base)| {
            let values = (0..minutes)
                .map(|m| base * (1.0 + 2.0 * m as f64 / minutes as f64) * rng.noise(0.08))
                .collect();
            (format!("site-{i}"), values)
        })
        .collect();
    build("slow-growth", minutes, sites)
}

/// Six hours of 40 quiet sites (under 4 requests per second) and 3 hot ones with bursts.
pub fn quiet_and_hot() -> Trace {
    let mut rng = Rng::new(4);
    let minutes = 360;
    let mut sites = Vec::new();
    for i in 0..40 {
        let base = 0.5 + 3.0 * rng.next_f64();
        let values = (0..minutes).map(|_| base * rng.noise(0.3)).collect();
        sites.push((format!("quiet-{i:02}"), values));
    }
    for (i, base) in [250.0, 150.0, 100.0].iter().enumerate() {
        let period = 90.0 + 30.0 * i as f64;
        let values = (0..minutes)
            .map(|m| {
                let wave = 0.6 + 0.4 * (m as f64 / period * std::f64::consts::TAU).sin();
                let burst = if (m + 40 * i) % 150 < 10 { 2.0 } else { 1.0 };
                base * wave * burst * rng.noise(0.1)
            })
            .collect();
        sites.push((format!("hot-{i}"), values));
    }
    build("quiet-and-hot", minutes, sites)
}

/// Eight night hours of 10 sites with near-zero traffic and rare small blips.
pub fn quiet_night() -> Trace {
    let mut rng = Rng::new(5);
    let minutes = 480;
    let sites = (0..10)
        .map(|i| {
            let values = (0..minutes)
                .map(|_| {
                    let blip = if rng.next_f64() < 0.01 { 15.0 } else { 0.0 };
                    0.3 * rng.next_f64() + blip
                })
                .collect();
            (format!("site-{i}"), values)
        })
        .collect();
    build("quiet-night", minutes, sites)
}

/// The shipped set, in report order.
pub fn shipped() -> Vec<Trace> {
    vec![
        daily_cycle(),
        flash_crowd(),
        slow_growth(),
        quiet_and_hot(),
        quiet_night(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_csv() {
        let t = flash_crowd();
        let back = Trace::parse("flash-crowd", &t.to_csv()).unwrap();
        assert_eq!(back.minutes, t.minutes);
        for (site, values) in &t.sites {
            for (a, b) in values.iter().zip(&back.sites[site]) {
                assert!((a - b).abs() < 0.006);
            }
        }
    }

    #[test]
    fn flash_crowd_is_ten_times_within_two_minutes() {
        let t = flash_crowd();
        let s = &t.sites["site-0"];
        let before = s[55..60].iter().sum::<f64>() / 5.0;
        assert!(
            s[61] / before > 8.5 && s[61] / before < 11.5,
            "{}",
            s[61] / before
        );
    }

    #[test]
    fn errors_name_the_line_and_the_fix() {
        let err = Trace::parse("t", "minute,site,demand\n0,a,1\n1,a,-2\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t:3: demand -2 must be finite and >= 0; expected `minute,site,demand` (e.g. `12,shop,40.5`)"
        );
        assert!(matches!(
            Trace::parse("t", "0,a b,1").unwrap_err(),
            TraceError::Line { line: 1, .. }
        ));
        assert!(matches!(
            Trace::parse("t", "0,a,1\n0,a,2").unwrap_err(),
            TraceError::Line { line: 2, .. }
        ));
        assert_eq!(
            Trace::parse("t", "# only a comment\n").unwrap_err(),
            TraceError::Empty("t".into())
        );
    }

    #[test]
    fn missing_minutes_are_zero() {
        let t = Trace::parse("t", "3,a,5\n0,b,1\n").unwrap();
        assert_eq!(t.minutes, 4);
        assert_eq!(t.sites["a"], vec![0.0, 0.0, 0.0, 5.0]);
        assert_eq!(t.sites["b"], vec![1.0, 0.0, 0.0, 0.0]);
    }
}
