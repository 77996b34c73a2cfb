//! The built-in CPU tasks of `cluster --task`. Deliberately plain loops: they exist to keep a
//! core busy in a predictable way, so the optimiser is kept from folding them away.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A built-in task; on the wire (the task request) by its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Task {
    /// Naive recursive Fibonacci of N (N <= 93, the largest that fits in 64 bits)
    Fib,
    /// Sum of 0..=N computed in a loop
    Sum,
    /// Count the primes below N (N <= 2*10^9)
    Primes,
    /// Busy-loop for N milliseconds (at most a day)
    Spin,
}

impl Task {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Task::Fib => "fib",
            Task::Sum => "sum",
            Task::Primes => "primes",
            Task::Spin => "spin",
        }
    }

    /// Run the task on one input; an invalid input fails this job only.
    pub(crate) fn run(self, input: &str) -> Result<u64, String> {
        let t = input.trim();
        let n: u64 = t.parse().map_err(|_| {
            if t.starts_with('-') && t[1..].parse::<u64>().is_ok() {
                // The input itself is named by the report line (and kept in --json).
                format!(
                    "invalid input: {} needs a non-negative integer",
                    self.name()
                )
            } else {
                "invalid input: not a whole number".to_string()
            }
        })?;
        match self {
            Task::Fib => fib_checked(n),
            Task::Sum => sum(n),
            Task::Primes => {
                // The sieve takes N/16 bytes: keep one job's memory within 125 MB.
                if n > 2_000_000_000 {
                    return Err(format!("primes {n} is too large (at most 2000000000)"));
                }
                Ok(count_primes_below(n))
            }
            Task::Spin => spin(n),
        }
    }
}

fn fib_checked(n: u64) -> Result<u64, String> {
    if n > 93 {
        return Err(format!(
            "fib {n} does not fit in 64 bits (largest is fib 93)"
        ));
    }
    Ok(fib(black_box(n)))
}

fn sum(n: u64) -> Result<u64, String> {
    // The result must fit: n(n+1)/2 <= u64::MAX.
    let fits = (n as u128) * (n as u128 + 1) / 2 <= u64::MAX as u128;
    if !fits {
        return Err(format!("sum {n} does not fit in 64 bits"));
    }
    let mut acc: u64 = 0;
    for i in 0..=n {
        acc = black_box(acc + i);
    }
    Ok(acc)
}

/// Keep a core busy for `n` milliseconds.
fn spin(n: u64) -> Result<u64, String> {
    if n > 86_400_000 {
        return Err(format!("spin {n} is too long (at most 86400000 ms, a day)"));
    }
    let until = Instant::now() + Duration::from_millis(n);
    let mut spins: u64 = 0;
    while Instant::now() < until {
        for _ in 0..1000 {
            spins = black_box(spins.wrapping_add(1));
        }
    }
    Ok(n)
}

fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

/// Sieve of Eratosthenes over odd numbers only, one bit each.
fn count_primes_below(n: u64) -> u64 {
    if n <= 2 {
        return 0;
    }
    // Odd numbers 3, 5, 7, ... below n: index i stands for 2i + 3.
    let len = ((n - 2) / 2) as usize;
    let mut composite = vec![0u64; len.div_ceil(64)];
    let mut i = 0usize;
    loop {
        let p = 2 * i as u64 + 3;
        if p * p >= n {
            break;
        }
        if composite[i / 64] & (1 << (i % 64)) == 0 {
            let mut j = ((p * p - 3) / 2) as usize;
            while j < len {
                composite[j / 64] |= 1 << (j % 64);
                j += p as usize;
            }
        }
        i += 1;
    }
    let mut count = 1; // the prime 2
    if len == 0 {
        return count;
    }
    for (w, word) in composite.iter().enumerate() {
        let bits_here = (len - w * 64).min(64);
        let mask = if bits_here == 64 {
            u64::MAX
        } else {
            (1u64 << bits_here) - 1
        };
        count += u64::from((!word & mask).count_ones());
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_results() {
        assert_eq!(Task::Fib.run("30"), Ok(832040));
        assert_eq!(Task::Fib.run("1"), Ok(1));
        assert_eq!(Task::Sum.run("1000000"), Ok(500000500000));
        assert_eq!(Task::Primes.run("100"), Ok(25));
        assert_eq!(Task::Primes.run("2"), Ok(0));
        assert_eq!(Task::Primes.run("3"), Ok(1));
        assert_eq!(Task::Primes.run("1000000"), Ok(78498));
        assert_eq!(Task::Spin.run("5"), Ok(5));
    }

    #[test]
    fn bad_inputs_fail_the_job() {
        assert!(Task::Fib.run("abc").is_err());
        assert!(Task::Fib.run("-3").unwrap_err().contains("non-negative"));
        assert!(Task::Fib.run("94").is_err());
        assert!(Task::Sum.run("18446744073709551615").is_err());
    }
}
