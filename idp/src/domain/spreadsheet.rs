//! What the STS hands out as CSV (the audit export, the migration reports) is opened in a
//! spreadsheet by a school's secretary. A cell that begins like a formula would run as one
//! there (`=HYPERLINK(…)` in a legacy name field, say), so it is defused with a leading
//! apostrophe, as the OWASP "CSV Injection" page advises.

use std::borrow::Cow;

/// `text` as a CSV cell a spreadsheet shows and never runs.
pub fn cell(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn formulas_are_defused_and_the_rest_left_alone() {
        assert_eq!(
            cell("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(cell("+32 2 123 45 67"), "'+32 2 123 45 67");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("jean.dupont"), "jean.dupont");
        assert_eq!(cell(""), "");
        assert_eq!(cell("a=b"), "a=b");
    }
}
