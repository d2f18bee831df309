//! The invariants a seed's run must keep once quiet (CONTRACT §13): exactly one ticket per
//! incident answered 200 or 503; each accepted event's note exactly once; every public agent note
//! in ContraForce once and no private or bridge note ever; each Halo close mirrored once and a
//! ContraForce close never echoed; every analyst comment one Halo note and a closing comment a
//! closed ticket; the poison incident delaying nobody; no 500 and no panic.

use super::world::World;
use super::{Ledger, incident_id};

/// Halo notes the bridge copied from ContraForce comments.
pub(super) fn notes_to_halo(world: &World) -> usize {
    let halo = &world.sandbox.halo;
    halo.tickets()
        .iter()
        .flat_map(|t| halo.actions(t.id))
        .filter(|a| a.note_html.contains("ContraForce comment by"))
        .count()
}

/// Every broken invariant, in words.
pub(super) fn check(world: &World, ledger: &Ledger, runs: Option<usize>) -> Vec<String> {
    let halo = &world.sandbox.halo;
    let cf = &world.sandbox.cf;
    let mut problems = Vec::new();
    if runs.is_none() {
        problems.push(format!(
            "the timer never went quiet in {} runs and {} s",
            super::QUIET_RUNS,
            super::QUIET_AT_LEAST.as_secs()
        ));
    }
    let tickets = halo.tickets();
    let comments = cf.comments();
    let closes = cf.status_updates();
    for (k, events) in ledger.events.iter().enumerate() {
        let id = incident_id(k);
        let reference = format!("cf|sentinel|{id}");
        let mine: Vec<_> = tickets
            .iter()
            .filter(|t| t.third_party_id_string.as_deref() == Some(reference.as_str()))
            .collect();
        let accepted: Vec<&String> = events.iter().filter(|(_, a)| *a).map(|(e, _)| e).collect();
        if accepted.is_empty() {
            continue;
        }
        if mine.len() != 1 {
            problems.push(format!(
                "incident {k}: {} tickets, not exactly one",
                mine.len()
            ));
            continue;
        }
        let ticket = mine[0].id;
        let actions = halo.actions(ticket);
        let notes_of = |event: &str| {
            actions
                .iter()
                .filter(|a| a.note_html.contains(&format!("<code>{event}</code>")))
                .count()
        };
        let without: Vec<&&String> = accepted.iter().filter(|e| notes_of(e) == 0).collect();
        for event in &accepted {
            if notes_of(event) > 1 {
                problems.push(format!(
                    "incident {k}: event {event} noted {} times",
                    notes_of(event)
                ));
            }
        }
        if without.len() > 1 {
            problems.push(format!(
                "incident {k}: accepted events without their note: {without:?} (only the one that created the ticket may lack one)"
            ));
        }
        let poison = k == 0;
        let on_incident: Vec<&str> = comments
            .iter()
            .filter(|c| c.incident_id == id)
            .filter_map(|c| c.body["content"].as_str())
            .collect();
        for (_, text) in ledger.public_notes.iter().filter(|(n, _)| *n == k) {
            let n = on_incident
                .iter()
                .filter(|c| c.ends_with(text.as_str()))
                .count();
            let want = usize::from(!poison);
            if n != want {
                problems.push(format!(
                    "incident {k}: public note {text:?} reached ContraForce {n} times, not {want}"
                ));
            }
        }
        for (_, text) in ledger.private_notes.iter().filter(|(n, _)| *n == k) {
            if on_incident.iter().any(|c| c.ends_with(text.as_str())) {
                problems.push(format!(
                    "incident {k}: private note {text:?} reached ContraForce"
                ));
            }
        }
        if on_incident
            .iter()
            .any(|c| c.contains("ContraForce re-delivered") || c.contains("ContraForce comment by"))
        {
            problems.push(format!(
                "incident {k}: a note the bridge wrote came back to ContraForce"
            ));
        }
        let mirrored = closes.iter().filter(|c| c.incident_id == id).count();
        if ledger.halo_closed.contains(&k) && !poison && mirrored != 1 {
            problems.push(format!(
                "incident {k}: the Halo close was mirrored {mirrored} times, not once"
            ));
        }
        if ledger.cf_closed.contains(&k) && mirrored != 0 {
            problems.push(format!(
                "incident {k}: the ContraForce close was echoed back ({mirrored})"
            ));
        }
        if ledger.cf_closed.contains(&k) && !poison && !mine[0].hasbeenclosed {
            problems.push(format!(
                "incident {k}: closed in ContraForce, its ticket is open"
            ));
        }
        for (_, text, after_close) in ledger.comments.iter().filter(|(n, _, _)| *n == k) {
            let n = actions
                .iter()
                .filter(|a| a.note_html.contains(text.as_str()))
                .count();
            // A comment on an incident closed on both sides may come too late to be copied
            // (CONTRACT §10.2); never twice, and one made while it was open always once.
            let ok = if poison {
                n == 0
            } else if *after_close {
                n <= 1
            } else {
                n == 1
            };
            if !ok {
                problems.push(format!("incident {k}: comment {text:?} is {n} Halo notes"));
            }
        }
    }
    for error in &world.server_errors {
        problems.push(format!("a handler answered {error}"));
    }
    for panic in world.panics() {
        problems.push(format!("a handler panicked: {panic}"));
    }
    problems
}
