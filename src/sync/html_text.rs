//! Halo's `note_html` as readable plain text for a ContraForce comment (CONTRACT §4.3.4).

/// Elements whose end starts a new line.
const BLOCKS: &[&str] = &["p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"];
/// Elements whose content is never text.
const HIDDEN: &[&str] = &["script", "style"];

/// Converts HTML to text: `<br>` and block ends become newlines, other tags go, `script` and
/// `style` content goes, entities are decoded, spaces collapse, at most one blank line remains.
pub fn html_to_text(html: &str) -> String {
    let mut raw = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        push_text(&mut raw, &rest[..open]);
        rest = &rest[open..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let Some(close) = rest.find('>') else {
            // A lone '<' is text, as browsers show it.
            push_text(&mut raw, rest);
            rest = "";
            break;
        };
        let tag = &rest[1..close];
        rest = &rest[close + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name == "br" || (closing && BLOCKS.contains(&name.as_str())) {
            raw.push('\n');
        } else if !closing && HIDDEN.contains(&name.as_str()) && !tag.trim_end().ends_with('/') {
            rest = skip_past_end_tag(rest, &name);
        }
    }
    push_text(&mut raw, rest);
    normalise(&raw)
}

/// Decodes a text run; source line breaks and tabs are spaces in HTML.
fn push_text(out: &mut String, text: &str) {
    if text.is_empty() {
        return;
    }
    let decoded = html_escape::decode_html_entities(text);
    out.extend(decoded.chars().map(|c| match c {
        '\n' | '\r' | '\t' | '\u{a0}' => ' ',
        c => c,
    }));
}

fn skip_past_end_tag<'a>(rest: &'a str, name: &str) -> &'a str {
    let lower = rest.to_ascii_lowercase();
    let needle = format!("</{name}");
    match lower.find(&needle) {
        Some(at) => rest[at..].find('>').map_or("", |end| &rest[at + end + 1..]),
        None => "",
    }
}

/// Collapses spaces, trims every line, keeps at most one blank line in a row, trims the whole.
fn normalise(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut newlines = 0usize;
    for line in raw.split('\n') {
        let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
        if words.is_empty() {
            newlines += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if newlines >= 2 { "\n\n" } else { "\n" });
        }
        out.push_str(&words.join(" "));
        newlines = 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn the_fixture_note_becomes_plain_text() {
        let html = "<p>Reset the user&#39;s password and <b>revoked</b> sessions.</p>";
        assert_eq!(
            html_to_text(html),
            "Reset the user's password and revoked sessions."
        );
    }

    #[test]
    fn paragraphs_and_line_breaks_are_kept() {
        let html = "<p>First line<br>second line<br/>third</p><p>Next   paragraph</p><ul><li>one</li><li>two</li></ul>";
        assert_eq!(
            html_to_text(html),
            "First line\nsecond line\nthird\nNext paragraph\none\ntwo"
        );
    }

    #[test]
    fn blank_lines_are_capped_at_one_and_the_result_trimmed() {
        let html = "  <div>a</div><br><br><br><br><div> b </div>  ";
        assert_eq!(html_to_text(html), "a\n\nb");
    }

    #[test]
    fn scripts_styles_comments_and_unknown_tags_are_dropped() {
        let html = "<style>p{color:red}</style><SCRIPT type='x'>alert(1)</SCRIPT><!-- hidden --><span class=\"x\">ok</span> <h2>Title</h2>";
        assert_eq!(html_to_text(html), "ok Title");
    }

    #[test]
    fn entities_are_decoded_after_tags_are_removed() {
        assert_eq!(
            html_to_text("&lt;b&gt; &amp;&nbsp;&quot;x&quot; &#x41;"),
            "<b> & \"x\" A"
        );
        assert_eq!(html_to_text("a < b"), "a < b");
        assert_eq!(
            html_to_text("source\nnewlines\tare spaces"),
            "source newlines are spaces"
        );
        assert_eq!(html_to_text("<p> </p><br>"), "");
    }
}
