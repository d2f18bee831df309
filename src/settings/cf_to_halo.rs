//! Settings of the CfToHalo function: signature skew, test events, the ticket mapping.

use std::collections::HashMap;

use super::common::{HaloConnection, missing_halo};
use super::parse::{parse_id_list, parse_note_outcome, parse_number_map, parse_priority_map};
use super::reconcile::NoteMode;
use super::source::Source;
use super::template::TitleTemplate;
use super::{Readiness, SettingsError};

/// How test deliveries are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestEvents {
    /// Verified and mapped, nothing created.
    Ack,
    /// Treated like real events.
    Create,
}

/// Outcome of the private notes we write: by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteOutcome {
    /// Sent as `outcome_id`.
    Id(u64),
    /// Sent as `outcome`.
    Name(String),
}

/// Settings of the CfToHalo function.
#[derive(Debug, Clone)]
pub struct CfToHaloSettings {
    /// Allowed |now − X-CF-Timestamp| in seconds.
    pub max_skew_seconds: u64,
    /// Test delivery handling.
    pub test_events: TestEvents,
    /// Ticket field choices.
    pub mapping: MappingSettings,
    /// Outcome of the notes written on tickets.
    pub note_outcome: NoteOutcome,
    /// What an agent investigation does to its ticket (CONTRACT §10.1).
    pub investigation: InvestigationSettings,
    /// `HALO_CREATE_GRACE_SECONDS`: how long a create whose outcome is unknown keeps its
    /// reference in doubt (CONTRACT §13).
    pub create_grace: std::time::Duration,
}

/// What `HALO_INVESTIGATION_ACTIONS` does for one classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvestigationAction {
    /// Close the ticket (first `HALO_CLOSED_STATUS_ID`).
    Close,
    /// Set this `priority_id`.
    Priority(u64),
}

/// `agent.investigation.completed.v1` handling.
#[derive(Debug, Clone)]
pub struct InvestigationSettings {
    /// `HALO_INVESTIGATION_NOTE`.
    pub note: NoteMode,
    /// `HALO_INVESTIGATION_ACTIONS`: lower-case classification → action.
    pub actions: HashMap<String, InvestigationAction>,
    /// `CF_INVESTIGATION_CREATES`.
    pub creates: bool,
    /// The status a `close` sets: the first `HALO_CLOSED_STATUS_ID`.
    pub closed_status_id: Option<u64>,
}

impl InvestigationSettings {
    /// The action for a classification, compared case-insensitively.
    pub fn action_for(&self, classification: &str) -> Option<InvestigationAction> {
        self.actions.get(&classification.to_lowercase()).copied()
    }
}

/// `Classification=close` or `Classification=priority:<id>`, comma list.
fn parse_actions(
    name: &str,
    value: &str,
) -> Result<HashMap<String, InvestigationAction>, SettingsError> {
    let mut actions = HashMap::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || {
            SettingsError::new(
                name,
                format!(
                    "expected Classification=close or Classification=priority:<id>, got {pair:?}"
                ),
            )
        };
        let (class, action) = pair.split_once('=').ok_or_else(bad)?;
        let (class, action) = (class.trim(), action.trim());
        if class.is_empty() {
            return Err(bad());
        }
        let action = if action.eq_ignore_ascii_case("close") {
            InvestigationAction::Close
        } else {
            let id = action
                .strip_prefix("priority:")
                .and_then(|id| id.trim().parse().ok())
                .ok_or_else(bad)?;
            InvestigationAction::Priority(id)
        };
        actions.insert(class.to_lowercase(), action);
    }
    Ok(actions)
}

fn parse_investigation(src: &mut Source) -> Result<InvestigationSettings, SettingsError> {
    let note = src.choice("HALO_INVESTIGATION_NOTE", &NoteMode::CHOICES)?;
    let actions = match src.get("HALO_INVESTIGATION_ACTIONS") {
        Some(v) => parse_actions("HALO_INVESTIGATION_ACTIONS", v)?,
        None => HashMap::new(),
    };
    let creates = src.choice(
        "CF_INVESTIGATION_CREATES",
        &[("true", true), ("false", false)],
    )?;
    let closed_status_id = match src.get("HALO_CLOSED_STATUS_ID") {
        Some(v) => parse_id_list("HALO_CLOSED_STATUS_ID", v)?.first().copied(),
        None => None,
    };
    if closed_status_id.is_none() && actions.values().any(|a| *a == InvestigationAction::Close) {
        return Err(SettingsError::new(
            "HALO_INVESTIGATION_ACTIONS",
            "close needs HALO_CLOSED_STATUS_ID (the status to set)",
        ));
    }
    Ok(InvestigationSettings {
        note,
        actions,
        creates,
        closed_status_id,
    })
}

/// Everything the incident → ticket mapping needs (CONTRACT §3.4).
#[derive(Debug, Clone)]
pub struct MappingSettings {
    /// `tickettype_id`.
    pub ticket_type_id: u64,
    /// Client for unmapped accounts.
    pub default_client_id: u64,
    /// Account id → Halo client id.
    pub client_map: HashMap<String, u64>,
    /// Lower-case severity → priority id.
    pub priority_map: HashMap<String, u64>,
    /// Summary template.
    pub title_template: TitleTemplate,
    /// `team` when set.
    pub team: Option<String>,
    /// `category_1` when set.
    pub category: Option<String>,
    /// Custom field carrying the reference, if not `third_party_id_string`.
    pub external_ref_field_id: Option<u64>,
}

impl MappingSettings {
    /// Priority for a severity; unknown severities use the `Low` entry.
    pub fn priority_for(&self, severity: &str) -> u64 {
        let map = &self.priority_map;
        map.get(&severity.to_lowercase())
            .or_else(|| map.get("low"))
            .copied()
            .unwrap_or(3)
    }
}

/// Reads the CfToHalo settings, or names what is missing.
pub(super) fn parse(
    src: &mut Source,
    halo: Option<&HaloConnection>,
) -> Result<Readiness<CfToHaloSettings>, SettingsError> {
    let max_skew_seconds = src.u64_or("CF_MAX_SKEW_SECONDS", 300)?;
    let test_events = src.choice(
        "CF_TEST_EVENTS",
        &[("ack", TestEvents::Ack), ("create", TestEvents::Create)],
    )?;
    let ticket_type = src.u64("HALO_DEFAULT_TICKETTYPE_ID")?;
    let default_client = src.u64("HALO_DEFAULT_CLIENT_ID")?;
    let client_map = match src.get("HALO_CLIENT_MAP") {
        Some(v) => parse_number_map("HALO_CLIENT_MAP", v)?
            .into_iter()
            .collect(),
        None => HashMap::new(),
    };
    let priority_map = parse_priority_map(
        "HALO_PRIORITY_MAP",
        src.get("HALO_PRIORITY_MAP")
            .unwrap_or("High=1,Medium=2,Low=3,Informational=3"),
    )?;
    let title_template = TitleTemplate::parse(
        src.get("HALO_TITLE_TEMPLATE")
            .unwrap_or("[CF #{incidentNumber}] {title}"),
    );
    let team = src.get("HALO_TEAM").map(str::to_string);
    let category = src.get("HALO_CATEGORY").map(str::to_string);
    let note_outcome = parse_note_outcome(
        src.get("HALO_PRIVATE_NOTE_OUTCOME")
            .unwrap_or("Private Note"),
    );
    let external_ref_field_id = src.u64("HALO_EXTERNAL_REF_FIELD_ID")?;
    let investigation = parse_investigation(src)?;
    let create_grace = src.u64_or("HALO_CREATE_GRACE_SECONDS", 90)?;
    if create_grace > 3600 {
        return Err(SettingsError::new(
            "HALO_CREATE_GRACE_SECONDS",
            "must be 0–3600",
        ));
    }

    let mut missing = Vec::new();
    if !src.secret_available("CF_WEBHOOK_SECRET") {
        missing.push("CF_WEBHOOK_SECRET".to_string());
    }
    missing.extend(missing_halo(src));
    debug_assert!(
        halo.is_some() || !missing.is_empty(),
        "a missing connection is named"
    );
    if ticket_type.is_none() {
        missing.push("HALO_DEFAULT_TICKETTYPE_ID".to_string());
    }
    if default_client.is_none() {
        missing.push("HALO_DEFAULT_CLIENT_ID".to_string());
    }
    let (Some(ticket_type_id), Some(default_client_id), true) =
        (ticket_type, default_client, missing.is_empty())
    else {
        return Ok(Err(missing));
    };
    Ok(Ok(CfToHaloSettings {
        max_skew_seconds,
        test_events,
        mapping: MappingSettings {
            ticket_type_id,
            default_client_id,
            client_map,
            priority_map,
            title_template,
            team,
            category,
            external_ref_field_id,
        },
        note_outcome,
        investigation,
        create_grace: std::time::Duration::from_secs(create_grace),
    }))
}
