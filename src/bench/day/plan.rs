//! One simulated day of an MSP, drawn once from a seed: 288 five-minute slots, busier in business
//! hours; incidents one by one and in bursts, each with its later life (an agent verdict, an
//! update, analyst comments, a close from one side or the other), and many Halo ticket updates of
//! which a fifth are on CF-linked tickets (public and private agent notes).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Five-minute slots in a day.
pub(super) const SLOTS: usize = 288;

/// One thing that happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Act {
    /// ContraForce posts incident `k` (`incident.created.v1`).
    Incident(usize),
    /// ContraForce posts an `incident.updated.v1` of incident `k`.
    Update(usize),
    /// The ContraForce agent's verdict on incident `k`.
    Verdict(usize),
    /// An analyst comments on incident `k` in ContraForce.
    Comment(usize),
    /// An analyst closes incident `k` in ContraForce.
    CfClose(usize),
    /// A Halo agent adds a note to incident `k`'s ticket (public or not); Halo's webhook follows.
    HaloNote { k: usize, public: bool },
    /// A Halo agent closes incident `k`'s ticket; Halo's webhook follows.
    HaloClose(usize),
    /// A Halo agent updates ticket `j` of the MSP's other (not CF-linked) tickets.
    Unlinked(usize),
}

/// The day's shape.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    /// Incidents arriving one by one.
    pub(super) incidents: usize,
    /// Bursts of incidents (each in one slot).
    pub(super) bursts: usize,
    /// Incidents per burst.
    pub(super) burst_size: usize,
    /// Halo ticket updates (webhooks) in the day.
    pub(super) halo_updates: usize,
    /// The MSP's other open tickets.
    pub(super) other_tickets: usize,
}

/// The day: each slot's acts, in order.
pub(super) struct Day {
    /// Acts by slot.
    pub(super) slots: Vec<Vec<Act>>,
    /// Incidents in all.
    pub(super) incidents: usize,
}

/// Business hours weigh three times the night.
fn weight(slot: usize) -> u32 {
    let hour = slot / 12;
    if (8..18).contains(&hour) { 3 } else { 1 }
}

/// A slot drawn by weight.
fn weighted_slot(rng: &mut StdRng) -> usize {
    let total: u32 = (0..SLOTS).map(weight).sum();
    let mut pick = rng.random_range(0..total);
    for slot in 0..SLOTS {
        let w = weight(slot);
        if pick < w {
            return slot;
        }
        pick -= w;
    }
    SLOTS - 1
}

/// The day drawn from `seed`.
pub(super) fn day(seed: u64, shape: Shape) -> Day {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut slots: Vec<Vec<Act>> = vec![Vec::new(); SLOTS];
    let mut born: Vec<usize> = Vec::new();
    for _ in 0..shape.incidents {
        born.push(weighted_slot(&mut rng));
    }
    for _ in 0..shape.bursts {
        let slot = weighted_slot(&mut rng);
        born.extend(std::iter::repeat_n(slot, shape.burst_size));
    }
    born.sort_unstable();
    // Each incident's life, relative to its birth; what falls past midnight is left out.
    let later = |slots: &mut Vec<Vec<Act>>, at: usize, act: Act| {
        if at < SLOTS {
            slots[at].push(act);
        }
    };
    let mut open_until = vec![SLOTS; born.len()];
    for (k, &slot) in born.iter().enumerate() {
        slots[slot].push(Act::Incident(k));
        if rng.random_bool(0.7) {
            later(&mut slots, slot + rng.random_range(1..=6), Act::Verdict(k));
        }
        if rng.random_bool(0.3) {
            later(&mut slots, slot + rng.random_range(1..=12), Act::Update(k));
        }
        for _ in 0..rng.random_range(0..=2) {
            later(&mut slots, slot + rng.random_range(2..=24), Act::Comment(k));
        }
        let close_at = slot + rng.random_range(6..=48);
        match rng.random_range(0..10) {
            0..=3 => later(&mut slots, close_at, Act::HaloClose(k)),
            4..=7 => later(&mut slots, close_at, Act::CfClose(k)),
            _ => {}
        }
        open_until[k] = close_at;
    }
    // Halo's updates: a fifth on an open CF-linked ticket, the rest on the MSP's other tickets.
    for _ in 0..shape.halo_updates {
        let slot = weighted_slot(&mut rng);
        let open: Vec<usize> = (0..born.len())
            .filter(|&k| born[k] < slot && open_until[k] > slot)
            .collect();
        let act = if rng.random_bool(0.2) && !open.is_empty() {
            Act::HaloNote {
                k: open[rng.random_range(0..open.len())],
                public: rng.random_bool(0.5),
            }
        } else {
            Act::Unlinked(rng.random_range(0..shape.other_tickets.max(1)))
        };
        slots[slot].push(act);
    }
    // Within a slot, incidents come first (a burst is concurrent), then the rest in drawn order.
    for acts in &mut slots {
        acts.sort_by_key(|a| !matches!(a, Act::Incident(_)));
    }
    Day {
        slots,
        incidents: born.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: Shape = Shape {
        incidents: 100,
        bursts: 3,
        burst_size: 25,
        halo_updates: 2_000,
        other_tickets: 400,
    };

    #[test]
    fn a_seed_draws_the_same_day_and_a_fifth_of_halo_updates_are_on_linked_tickets() {
        let (a, b) = (day(7, SHAPE), day(7, SHAPE));
        assert_eq!(a.slots, b.slots);
        assert_eq!(a.incidents, 175);
        let acts: Vec<Act> = a.slots.concat();
        let linked = acts
            .iter()
            .filter(|a| matches!(a, Act::HaloNote { .. }))
            .count();
        let other = acts
            .iter()
            .filter(|a| matches!(a, Act::Unlinked(_)))
            .count();
        assert_eq!(linked + other, 2_000);
        assert!((300..=450).contains(&linked), "{linked}");
        let incidents = acts
            .iter()
            .filter(|a| matches!(a, Act::Incident(_)))
            .count();
        assert_eq!(incidents, 175);
    }
}
