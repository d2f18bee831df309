//! `HALO_TITLE_TEMPLATE`, parsed once at start-up into text and placeholders.
//!
//! Only the parsed shape lives here; `sync::mapping::render_title` fills it in from an
//! incident, so settings need nothing from `sync` or `contraforce`.

/// An incident field the title template can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// `{incidentNumber}`.
    IncidentNumber,
    /// `{incidentId}`.
    IncidentId,
    /// `{title}`.
    Title,
    /// `{severity}`.
    Severity,
    /// `{source}`.
    Source,
    /// `{sourceDisplayName}`.
    SourceDisplayName,
    /// `{accountName}`.
    AccountName,
    /// An unknown placeholder: prints as nothing.
    Unknown,
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text.
    Text(String),
    /// A `{placeholder}`.
    Field(Placeholder),
}

/// `HALO_TITLE_TEMPLATE`, parsed once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleTemplate(Vec<Segment>);

impl TitleTemplate {
    /// Parses `{placeholder}` segments; a `{` without a closing `}` is literal text.
    pub fn parse(template: &str) -> Self {
        let mut segments = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|i| open + i) else {
                break;
            };
            if open > 0 {
                segments.push(Segment::Text(rest[..open].to_string()));
            }
            let field = match &rest[open + 1..close] {
                "incidentNumber" => Placeholder::IncidentNumber,
                "incidentId" => Placeholder::IncidentId,
                "title" => Placeholder::Title,
                "severity" => Placeholder::Severity,
                "source" => Placeholder::Source,
                "sourceDisplayName" => Placeholder::SourceDisplayName,
                "accountName" => Placeholder::AccountName,
                _ => Placeholder::Unknown,
            };
            segments.push(Segment::Field(field));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_string()));
        }
        Self(segments)
    }

    /// The segments in template order.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }
}
