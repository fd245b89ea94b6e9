//! ossec.conf and decoder files as text: a scanner that checks the tags balance (as OSSEC's
//! own lenient parser needs, not full XML: OSSEC's stock comments hold `--` and commands
//! hold `&`), and the marked blocks dbaudit inserts and removes byte for byte.

/// The first line of every block dbaudit adds.
pub(crate) const BEGIN: &str = "<!-- dbaudit begin -->";
/// The last line of every block dbaudit adds.
pub(crate) const END: &str = "<!-- dbaudit end -->";

/// One element found in the text, by byte offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Element {
    /// Its tag name.
    pub(crate) name: String,
    /// 0 for a top-level element.
    pub(crate) depth: usize,
    /// The offset of its `<`.
    pub(crate) start: usize,
    /// The offset just after its start tag's `>`.
    pub(crate) inner_start: usize,
    /// The offset of its end tag's `<` (equal to `inner_start` for `<x/>`).
    pub(crate) end_tag: usize,
}

impl Element {
    /// The text between its tags, trimmed.
    pub(crate) fn text<'a>(&self, text: &'a str) -> &'a str {
        text[self.inner_start..self.end_tag].trim()
    }

    /// Whether `other` lies inside it.
    pub(crate) fn contains(&self, other: &Element) -> bool {
        other.start > self.start && other.start < self.end_tag
    }
}

/// Every element of `text`, in document order; the error is `line: what is wrong`.
pub(crate) fn scan(text: &str) -> Result<Vec<Element>, (usize, String)> {
    let bytes = text.as_bytes();
    let line_of = |at: usize| text[..at].bytes().filter(|&b| b == b'\n').count() + 1;
    let mut elements: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            if open.is_empty() && !bytes[i].is_ascii_whitespace() {
                return Err((line_of(i), "text outside any element: this is not an XML configuration".into()));
            }
            i += 1;
            continue;
        }
        let rest = &text[i..];
        let skip_to = |close: &str, what: &str| {
            rest.find(close).map(|at| i + at + close.len()).ok_or_else(|| (line_of(i), format!("{what} never closed")))
        };
        if rest.starts_with("<!--") {
            i = skip_to("-->", "comment <!--")?;
        } else if rest.starts_with("<![CDATA[") {
            i = skip_to("]]>", "<![CDATA[")?;
        } else if rest.starts_with("<?") {
            i = skip_to("?>", "<?")?;
        } else if rest.starts_with("<!") {
            i = skip_to(">", "<!")?;
        } else if let Some(close) = rest.strip_prefix("</") {
            let gt = close.find('>').ok_or_else(|| (line_of(i), "end tag </… never closed with >".to_string()))?;
            let name = close[..gt].trim();
            let Some(index) = open.pop() else {
                return Err((line_of(i), format!("</{name}> closes nothing")));
            };
            let element = &mut elements[index];
            if element.name != name {
                let (opened, expected) = (line_of(element.start), element.name.clone());
                return Err((
                    line_of(i),
                    format!("</{name}> where </{expected}> (opened on line {opened}) was expected"),
                ));
            }
            element.end_tag = i;
            i += 2 + gt + 1;
        } else {
            let (end, self_closing) = start_tag_end(text, i).map_err(|what| (line_of(i), what))?;
            let name_end =
                rest[1..].find(|c: char| c.is_whitespace() || c == '/' || c == '>').map_or(rest.len(), |n| n + 1);
            let name = &rest[1..name_end];
            if name.is_empty() {
                return Err((line_of(i), "'<' not followed by a tag name".into()));
            }
            elements.push(Element {
                name: name.to_owned(),
                depth: open.len(),
                start: i,
                inner_start: end,
                end_tag: end,
            });
            if !self_closing {
                open.push(elements.len() - 1);
            }
            i = end;
        }
    }
    if let Some(&index) = open.last() {
        let element = &elements[index];
        return Err((line_of(element.start), format!("<{}> is never closed", element.name)));
    }
    Ok(elements)
}

/// The offset after the `>` of the start tag at `at`, and whether it is `<x/>`; quotes in
/// attribute values may hold `>`.
fn start_tag_end(text: &str, at: usize) -> Result<(usize, bool), String> {
    let bytes = text.as_bytes();
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate().skip(at + 1) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'<') => return Err("a tag is not closed with '>' before the next '<'".into()),
            (None, b'>') => return Ok((i + 1, bytes[i - 1] == b'/')),
            _ => {}
        }
    }
    Err("a tag is never closed with '>'".into())
}

/// The offset where the line holding `at` starts.
pub(crate) fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |n| n + 1)
}

/// The 1-based line number of `at`.
pub(crate) fn line_number(text: &str, at: usize) -> usize {
    text[..at].bytes().filter(|&b| b == b'\n').count() + 1
}

/// Inserts a marked block holding `body` (lines, without indentation) at `at`, indented by
/// `indent`. At a line's start (only blanks before `at`) the block is whole lines; after
/// other text on the line it starts there and ends at its end marker. [`remove_blocks`]
/// undoes either exactly.
pub(crate) fn insert_block(text: &str, at: usize, indent: &str, body: &[String]) -> String {
    let ls = line_start(text, at);
    let whole_lines = text[ls..at].trim().is_empty();
    let mut block = String::new();
    if whole_lines {
        block.push_str(indent);
    }
    block.push_str(BEGIN);
    block.push('\n');
    for line in body {
        if !line.is_empty() {
            block.push_str(indent);
            block.push_str(line);
        }
        block.push('\n');
    }
    block.push_str(indent);
    block.push_str(END);
    let at = if whole_lines {
        block.push('\n');
        ls
    } else {
        at
    };
    let mut out = String::with_capacity(text.len() + block.len());
    out.push_str(&text[..at]);
    out.push_str(&block);
    out.push_str(&text[at..]);
    out
}

/// `text` without any of the blocks [`insert_block`] made. An unmatched begin marker is an
/// error: someone edited the block, and guessing its end could cut their text.
pub(crate) fn remove_blocks(text: &str) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(text.len());
    let mut rest_from = 0;
    while let Some(found) = text[rest_from..].find(BEGIN) {
        let begin = rest_from + found;
        let Some(end_found) = text[begin..].find(END) else {
            return Err((line_number(text, begin), format!("{BEGIN} without {END}: put the end marker back")));
        };
        let mut end = begin + end_found + END.len();
        let ls = line_start(text, begin);
        let mut start = begin;
        if ls >= rest_from && text[ls..begin].trim().is_empty() {
            start = ls;
            if text[end..].starts_with('\n') {
                end += 1;
            }
        }
        out.push_str(&text[rest_from..start]);
        rest_from = end;
    }
    out.push_str(&text[rest_from..]);
    Ok(out)
}

/// The indentation of the line holding `at`.
pub(crate) fn indent_of(text: &str, at: usize) -> String {
    let ls = line_start(text, at);
    text[ls..].chars().take_while(|c| *c == ' ' || *c == '\t').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_come_out_byte_for_byte() {
        let texts = ["<a>\n  <b/>\n</a>\n", "<a><b/></a>", "<a>\n<b/></a>", "", "x\n", "<a>\r\n  </a>\r\n"];
        let body = vec!["<c>1</c>".to_string(), String::new(), "<d/>".to_string()];
        for text in texts {
            for at in 0..=text.len() {
                if !text.is_char_boundary(at) {
                    continue;
                }
                let with = insert_block(text, at, "  ", &body);
                assert!(with.contains(BEGIN) && with.contains(END));
                assert_eq!(remove_blocks(&with).unwrap(), text, "{text:?} at {at}: {with:?}");
            }
        }
    }

    #[test]
    fn scanner_accepts_what_ossec_accepts_and_names_the_line_of_what_it_does_not() {
        let ok = "<!-- a -- b -->\n<ossec_config>\n  <command>a && b</command>\n  <x a=\"1>2\"/>\n</ossec_config>\n";
        let elements = scan(ok).unwrap();
        assert_eq!(elements.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["ossec_config", "command", "x"]);
        assert_eq!(elements[1].text(ok), "a && b");
        assert_eq!(scan("<ossec_config>\n  <rules>\n</ossec_config>\n").unwrap_err().0, 3);
        assert_eq!(scan("<ossec_config>\n  <rules>\n").unwrap_err().0, 2);
        assert_eq!(scan("[client]\nuser = x\n").unwrap_err().0, 1);
        assert_eq!(scan("<a>\n<!-- x\n</a>").unwrap_err().0, 2);
    }

    #[test]
    fn an_edited_block_without_its_end_is_refused() {
        let err = remove_blocks(&format!("<a>\n{BEGIN}\n<b/>\n</a>\n")).unwrap_err();
        assert_eq!(err.0, 2);
    }
}
