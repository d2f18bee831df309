//! Settings of the HaloToCf function: webhook signature, the ContraForce API, closing.

use super::common::{HaloConnection, missing_halo};
use super::contraforce::{self, ContraForceApi};
use super::parse::{parse_header_name, parse_id_list};
use super::signature_form::SignatureForm;
use super::source::Source;
use super::{Readiness, SettingsError};

/// Settings of the HaloToCf function.
#[derive(Debug, Clone)]
pub struct HaloToCfSettings {
    /// Header carrying the HMAC (lower case).
    pub signature_header: String,
    /// What the HMAC covers: the body, or signed headers and the body (CONTRACT §11.5).
    pub signature_form: SignatureForm,
    /// How ContraForce is reached.
    pub cf: ContraForceApi,
    /// Status ids that mean "closed".
    pub closed_status_ids: Vec<u64>,
    /// Actions by this agent are ours and never forwarded.
    pub integration_agent_id: Option<u64>,
    /// Custom field carrying the reference, if not `third_party_id_string`.
    pub external_ref_field_id: Option<u64>,
    /// `classification` sent when closing.
    pub close_classification: String,
    /// `classificationReason` sent when closing.
    pub close_classification_reason: String,
}

/// Reads the HaloToCf settings, or names what is missing.
pub(super) fn parse(
    src: &mut Source,
    halo: Option<&HaloConnection>,
) -> Result<Readiness<HaloToCfSettings>, SettingsError> {
    let signature_header = parse_header_name(
        "HALO_WEBHOOK_SIGNATURE_HEADER",
        src.get("HALO_WEBHOOK_SIGNATURE_HEADER")
            .unwrap_or("x-signature"),
    )?;
    let signature_form = match src.get("HALO_WEBHOOK_SIGNATURE_FORM") {
        Some(v) => SignatureForm::parse("HALO_WEBHOOK_SIGNATURE_FORM", v)?,
        None => SignatureForm::body(),
    };
    let cf = contraforce::parse(src)?;
    let closed = src
        .get("HALO_CLOSED_STATUS_ID")
        .map(|v| parse_id_list("HALO_CLOSED_STATUS_ID", v))
        .transpose()?;
    let integration_agent_id = src.u64("HALO_INTEGRATION_AGENT_ID")?;
    let external_ref_field_id = src.u64("HALO_EXTERNAL_REF_FIELD_ID")?;
    let close_classification = src
        .get("CF_CLOSE_CLASSIFICATION")
        .unwrap_or("Undetermined")
        .to_string();
    let close_classification_reason = src
        .get("CF_CLOSE_CLASSIFICATION_REASON")
        .unwrap_or("InaccurateData")
        .to_string();

    let mut missing = Vec::new();
    if !src.secret_available("HALO_WEBHOOK_SECRET")
        && !src.secret_available("HALO_WEBHOOK_SIGNING_SECRET")
    {
        missing.push("HALO_WEBHOOK_SECRET".to_string());
    }
    missing.extend(missing_halo(src));
    debug_assert!(
        halo.is_some() || !missing.is_empty(),
        "a missing connection is named"
    );
    let cf_secret = src.secret_available("CF_SERVICE_ACCOUNT_CLIENT_SECRET");
    for (name, present) in [
        ("CF_API_BASE_URL", true),
        ("CF_SERVICE_ACCOUNT_CLIENT_ID", true),
        ("CF_SERVICE_ACCOUNT_CLIENT_SECRET", cf_secret),
        ("CF_WORKSPACE_ID", true),
        ("HALO_CLOSED_STATUS_ID", closed.is_some()),
    ]
    .map(|(name, present)| (name, present && !cf.missing.contains(&name)))
    {
        if !present {
            missing.push(name.to_string());
        }
    }
    let (Some(cf), Some(closed), true) = (cf.api, closed, missing.is_empty()) else {
        return Ok(Err(missing));
    };
    Ok(Ok(HaloToCfSettings {
        signature_header,
        signature_form,
        cf,
        closed_status_ids: closed,
        integration_agent_id,
        external_ref_field_id,
        close_classification,
        close_classification_reason,
    }))
}
