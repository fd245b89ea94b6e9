//! The files of ossec/ that name paths are templates: `{{name}}` stands for a path of this
//! installation. They are filled in one pass, so a value is never read again as template
//! text: a `--log` under the OSSEC directory stays as given, where rewriting the defaults
//! one after another rewrote it twice.

/// `text` with each `{{name}}` replaced by its value in `values`. A name the template uses
/// and `values` lacks, or an unclosed `{{`, is an error naming it: a template and its filler
/// must agree, and a file with a placeholder left in it must never be installed.
pub(super) fn fill(text: &str, values: &[(&str, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("an unclosed {{{{ at {:?}", shown(after)))?;
        let name = &after[..end];
        let value = values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("the template names {{{{{name}}}}}, which install does not fill"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn shown(text: &str) -> String {
    text.chars().take(30).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_never_filled_again() {
        let values = [("ossec_dir", "/opt/ossec"), ("raw_log", "/var/ossec/logs/{{ossec_dir}}.log")];
        let filled = fill("{{raw_log}} in {{ossec_dir}}/logs", &values).unwrap();
        assert_eq!(filled, "/var/ossec/logs/{{ossec_dir}}.log in /opt/ossec/logs");
    }

    #[test]
    fn an_unknown_or_unclosed_placeholder_is_an_error() {
        assert!(fill("{{nope}}", &[]).unwrap_err().contains("{{nope}}"));
        assert!(fill("a {{ossec_dir", &[("ossec_dir", "x")]).unwrap_err().contains("unclosed"));
        assert_eq!(fill("no placeholders", &[]).unwrap(), "no placeholders");
    }
}
