//! Scene 4, Reconcile: whatever a webhook could not finish, the timer finishes — once.

use super::{Demo, Transcript, incident};

pub(super) async fn scene(demo: &Demo, t: &mut Transcript) {
    let (halo, cf) = (&demo.sandbox.halo, &demo.sandbox.cf);
    println!("\nReconcile (POST /Reconcile, the timer): nothing depends on the sender retrying");
    let made = demo
        .post_incident("evt-1242", &incident("outage-1242", 1242, "Password spray"))
        .await;
    let ticket = made.1["ticketId"].as_u64().unwrap_or(0);
    halo.add_agent_note(
        ticket,
        "Jane Tech",
        3,
        "<p>Blocked the source range.</p>",
        false,
    );
    cf.set_down(true);
    let hook = demo.halo_webhook(ticket).await;
    cf.set_down(false);
    t.step(
        hook.0 == 503,
        "a note while ContraForce is down",
        &format!(
            "{} (Halo will not retry: the ticket is marked pending)",
            hook.0
        ),
    );
    let comments = cf.comments().len();
    let run = demo.reconcile().await;
    t.step(
        run["commentsForwarded"] == 1 && cf.comments().len() == comments + 1,
        "ContraForce is back; the timer fires",
        &format!("reconcile: {} comment forwarded", run["commentsForwarded"]),
    );
    let again = demo.reconcile().await;
    t.step(
        again["commentsForwarded"] == 0,
        "the timer fires again",
        "reconcile: nothing new, nothing twice",
    );

    halo.set_down(true);
    let parked = demo
        .post_incident("evt-1243", &incident("parked-1243", 1243, "Malware beacon"))
        .await;
    halo.set_down(false);
    t.step(
        parked.0 == 503,
        "an incident while Halo is down",
        "503 + Retry-After (the event is parked)",
    );
    let tickets = halo.tickets().len();
    let run = demo.reconcile().await;
    t.step(
        run["eventsRedriven"] == 1 && halo.tickets().len() == tickets + 1,
        "Halo is back; the timer fires",
        "reconcile: the parked event made its ticket",
    );

    halo.add_agent_note(
        ticket,
        "Jane Tech",
        3,
        "<p>Nobody sent a webhook for this.</p>",
        false,
    );
    let run = demo.reconcile().await;
    t.step(
        run["commentsForwarded"] == 1,
        "a note with no webhook at all",
        &format!(
            "reconcile: the sweep found it ({} ticket(s) swept, {} Halo calls)",
            run["ticketsSwept"], run["haloCalls"]
        ),
    );
}
