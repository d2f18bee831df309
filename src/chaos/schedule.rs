//! A seed's schedule: what happens, in which order, drawn once from the seed (so the same seed
//! replays the same schedule). Faults come in bursts between the business: deliveries that
//! ContraForce retries a few times and then gives up, Halo notes and closes whose webhooks
//! sometimes never come or come twice, analysts commenting and closing in ContraForce, timer
//! runs, and handler processes killed and started again.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One thing that happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// ContraForce delivers a new event of incident `k` to handler `to`.
    Deliver { k: usize, to: usize },
    /// An agent adds a note to incident `k`'s ticket; Halo's webhook then goes to `to` once,
    /// twice (`resend`), or never (`to` is `None`).
    HaloNote {
        k: usize,
        public: bool,
        to: Option<usize>,
        resend: bool,
    },
    /// An agent closes incident `k`'s ticket (webhook as for a note).
    HaloClose {
        k: usize,
        to: Option<usize>,
        resend: bool,
    },
    /// An analyst comments on incident `k` in ContraForce.
    Comment { k: usize },
    /// An analyst closes incident `k` in ContraForce (a closing comment).
    CfClose { k: usize },
    /// Halo answers the next `n` calls with `status`.
    HaloBurst { n: usize, status: u16 },
    /// ContraForce answers the next `n` calls with `status`.
    CfBurst { n: usize, status: u16 },
    /// Every Halo call takes this long (zero: back to normal).
    HaloLatency(Duration),
    /// The next ticket write's answer is lost; Halo completes it after this long, or never.
    LoseTicketWrite(Option<Duration>),
    /// The next note's answer is lost (Halo applied it).
    LoseNote,
    /// The next ContraForce comment's answer is lost (ContraForce stored it).
    LoseComment,
    /// SIGKILL of handler `n`, then it starts again.
    Kill { n: usize },
    /// The Reconcile timer fires on handler `on`.
    Timer { on: usize },
}

/// `steps` steps for `incidents` incidents, from `seed`.
pub(super) fn schedule(seed: u64, incidents: usize, steps: usize) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(steps + incidents);
    // Every incident is delivered once early, so later steps have tickets to work on.
    for k in 0..incidents {
        out.push(Step::Deliver {
            k,
            to: rng.random_range(0..2),
        });
    }
    let webhook = |rng: &mut StdRng| -> (Option<usize>, bool) {
        match rng.random_range(0..10) {
            0 | 1 => (None, false),
            2 | 3 => (Some(rng.random_range(0..2)), true),
            _ => (Some(rng.random_range(0..2)), false),
        }
    };
    for _ in 0..steps {
        let k = rng.random_range(0..incidents);
        let step = match rng.random_range(0..100) {
            0..=17 => Step::Deliver {
                k,
                to: rng.random_range(0..2),
            },
            18..=35 => {
                let (to, resend) = webhook(&mut rng);
                Step::HaloNote {
                    k,
                    public: rng.random_range(0..4) != 0,
                    to,
                    resend,
                }
            }
            36..=40 => {
                let (to, resend) = webhook(&mut rng);
                Step::HaloClose { k, to, resend }
            }
            41..=52 => Step::Comment { k },
            53..=56 => Step::CfClose { k },
            57..=62 => Step::HaloBurst {
                n: rng.random_range(1..6),
                status: [500, 502, 503, 429][rng.random_range(0..4)],
            },
            63..=67 => Step::CfBurst {
                n: rng.random_range(1..5),
                status: [500, 503, 429][rng.random_range(0..3)],
            },
            68..=71 => Step::HaloLatency(Duration::from_millis(
                [0, 0, 150, 400][rng.random_range(0..4)],
            )),
            72..=75 => Step::LoseTicketWrite(
                (rng.random_range(0..4) != 0)
                    .then(|| Duration::from_millis(rng.random_range(0..2500))),
            ),
            76..=78 => Step::LoseNote,
            79..=81 => Step::LoseComment,
            82..=87 => Step::Kill {
                n: rng.random_range(0..2),
            },
            _ => Step::Timer {
                on: rng.random_range(0..2),
            },
        };
        out.push(step);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_draws_the_same_schedule_and_seeds_differ() {
        assert_eq!(schedule(7, 6, 80), schedule(7, 6, 80));
        assert_ne!(schedule(7, 6, 80), schedule(8, 6, 80));
        let steps = schedule(1, 6, 200);
        assert_eq!(steps.len(), 206);
        assert!(steps.iter().any(|s| matches!(s, Step::Kill { .. })));
        assert!(steps.iter().any(|s| matches!(s, Step::CfClose { .. })));
    }
}
