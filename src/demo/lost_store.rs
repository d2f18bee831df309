//! Scene 5, the state store is lost (a restarted process, a new storage account): the reference
//! lives on the ticket itself, in Halo's documented `third_party_id_string`, so nothing is
//! duplicated and nothing is forgotten (CONTRACT §11.3).

use super::{Demo, Transcript, incident, status_of};

pub(super) async fn scene(demo: &Demo, t: &mut Transcript, ticket: u64) {
    let (halo, cf) = (&demo.sandbox.halo, &demo.sandbox.cf);
    println!("\nThe state store is lost; the next event still finds its ticket");
    let tickets = halo.tickets().len();
    let lookups_before = lookups(demo);
    let first = incident(
        "b3f0c2a1-5d4e-4f60-9a8b-7c6d5e4f3a21",
        1234,
        "Suspicious sign-in activity",
    );
    let again = demo.post_incident("evt-1234-after-loss", &first).await;
    t.step(
        again.1["status"] == "updated"
            && again.1["ticketId"].as_u64() == Some(ticket)
            && halo.tickets().len() == tickets,
        "a new handler, an empty store: incident #1234 again",
        &format!(
            "{} (found by GET /Tickets?third_party_id_string=, {} lookup)",
            status_of(&again),
            lookups(demo) - lookups_before
        ),
    );
    halo.reopen(ticket);
    halo.add_agent_note(
        ticket,
        "Jane Tech",
        3,
        "<p>Re-opened: the user signed in from the same range again.</p>",
        false,
    );
    let comments = cf.comments().len();
    let hook = demo.halo_webhook(ticket).await;
    t.step(
        hook.1["actionsForwarded"] == 1 && cf.comments().len() == comments + 1,
        "a note on the ticket the store forgot",
        &format!(
            "{} {} (the note forwarded before the loss is not sent again)",
            hook.0, hook.1
        ),
    );
}

/// `GET /api/Tickets` calls so far.
fn lookups(demo: &Demo) -> usize {
    demo.sandbox
        .halo
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.eq_ignore_ascii_case("/api/Tickets"))
        .count()
}
