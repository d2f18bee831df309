//! `HALO_WEBHOOK_SIGNATURE_FORM` (CONTRACT §11.5): what Halo's webhook HMAC covers. Halo has not
//! published the string it signs when "headers to sign" is set, so the bridge offers a small set
//! of candidate layouts; `check-config` finds the one a tenant uses from its own deliveries.

use std::fmt;

use super::SettingsError;

/// The headers Wirespeed's Halo set-up signs, in its order: the default list of a header form.
pub const DEFAULT_SIGNED_HEADERS: [&str; 4] =
    ["content-length", "content-type", "host", "x-halo-date"];

/// How the signed headers and the body are laid out in the signed string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureLayout {
    /// The body alone (no headers to sign): the default.
    Body,
    /// `name:value\n` for each header, then the body.
    Lines,
    /// `name: value\n` for each header, then the body (HTTP-Signatures style).
    SpacedLines,
    /// The header values run together, then the body.
    Values,
    /// Each header value and `\n`, then the body.
    ValueLines,
    /// The header values and the body joined by `.` (as ContraForce and Standard Webhooks sign).
    Dotted,
}

impl SignatureLayout {
    /// Every layout, in the order a search tries them.
    pub const ALL: [SignatureLayout; 6] = [
        SignatureLayout::Body,
        SignatureLayout::Lines,
        SignatureLayout::SpacedLines,
        SignatureLayout::Values,
        SignatureLayout::ValueLines,
        SignatureLayout::Dotted,
    ];

    /// The word the setting uses.
    pub fn word(self) -> &'static str {
        match self {
            SignatureLayout::Body => "body",
            SignatureLayout::Lines => "lines",
            SignatureLayout::SpacedLines => "spaced-lines",
            SignatureLayout::Values => "values",
            SignatureLayout::ValueLines => "value-lines",
            SignatureLayout::Dotted => "dotted",
        }
    }
}

/// A layout and, for the header layouts, the signed headers in order (lower case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignatureForm {
    /// How the string is laid out.
    pub layout: SignatureLayout,
    /// Signed headers, in order; empty for [`SignatureLayout::Body`].
    pub headers: Vec<String>,
}

impl Default for SignatureForm {
    fn default() -> Self {
        SignatureForm::body()
    }
}

impl SignatureForm {
    /// The body alone.
    pub fn body() -> SignatureForm {
        SignatureForm {
            layout: SignatureLayout::Body,
            headers: Vec::new(),
        }
    }

    /// A header layout over `headers` (lower-cased); the body layout ignores them.
    pub fn new(layout: SignatureLayout, headers: &[String]) -> SignatureForm {
        if layout == SignatureLayout::Body {
            return SignatureForm::body();
        }
        SignatureForm {
            layout,
            headers: headers
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
        }
    }

    /// Every candidate form over `headers` (each layout once).
    pub fn candidates(headers: &[String]) -> Vec<SignatureForm> {
        SignatureLayout::ALL
            .iter()
            .map(|layout| SignatureForm::new(*layout, headers))
            .collect()
    }

    /// Reads `layout` or `layout:header,header,…` (the default list when none is given).
    pub fn parse(name: &str, value: &str) -> Result<SignatureForm, SettingsError> {
        let (word, list) = match value.split_once(':') {
            Some((word, list)) => (word.trim(), Some(list)),
            None => (value.trim(), None),
        };
        let layout = SignatureLayout::ALL
            .into_iter()
            .find(|l| l.word().eq_ignore_ascii_case(word))
            .ok_or_else(|| {
                let words: Vec<&str> = SignatureLayout::ALL.iter().map(|l| l.word()).collect();
                SettingsError::new(
                    name,
                    format!(
                        "expected one of {} (optionally :header,header,…), got {word:?}",
                        words.join(", ")
                    ),
                )
            })?;
        let headers: Vec<String> = match list {
            None => DEFAULT_SIGNED_HEADERS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
            Some(list) => list
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        };
        if layout == SignatureLayout::Body && list.is_some_and(|l| !l.trim().is_empty()) {
            return Err(SettingsError::new(name, "the body form signs no headers"));
        }
        if layout != SignatureLayout::Body && headers.is_empty() {
            return Err(SettingsError::new(
                name,
                "a header form needs at least one header",
            ));
        }
        if let Some(bad) = headers.iter().find(|h| {
            !h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }) {
            return Err(SettingsError::new(
                name,
                format!("{bad:?} is not a header name"),
            ));
        }
        Ok(SignatureForm::new(layout, &headers))
    }
}

/// The setting's text: `body`, or `layout:header,…`.
impl fmt::Display for SignatureForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.layout {
            SignatureLayout::Body => f.write_str("body"),
            layout => write!(f, "{}:{}", layout.word(), self.headers.join(",")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse_with_the_default_or_a_given_header_list_and_print_back() {
        let form = SignatureForm::parse("X", "lines").unwrap();
        assert_eq!(form.layout, SignatureLayout::Lines);
        assert_eq!(form.headers, DEFAULT_SIGNED_HEADERS);
        assert_eq!(
            form.to_string(),
            "lines:content-length,content-type,host,x-halo-date"
        );
        let form = SignatureForm::parse("X", "Dotted: X-Halo-Date , content-type").unwrap();
        assert_eq!(form.to_string(), "dotted:x-halo-date,content-type");
        assert_eq!(
            SignatureForm::parse("X", "BODY").unwrap(),
            SignatureForm::body()
        );
        for layout in SignatureLayout::ALL {
            let form = SignatureForm::new(layout, &["host".to_owned()]);
            assert_eq!(SignatureForm::parse("X", &form.to_string()).unwrap(), form);
        }
    }

    #[test]
    fn malformed_forms_are_refused_naming_the_setting() {
        for bad in [
            "",
            "sha256",
            "lines:",
            "body:host",
            "values:ho st",
            "lines:a;b",
        ] {
            let err = SignatureForm::parse("HALO_WEBHOOK_SIGNATURE_FORM", bad).unwrap_err();
            assert_eq!(err.name, "HALO_WEBHOOK_SIGNATURE_FORM", "{bad}");
        }
    }
}
