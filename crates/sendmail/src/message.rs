//! The message PHP writes on stdin: header fields, address lists, Bcc stripping.
//!
//! The raw bytes are kept as they are: only whole Bcc header fields are cut out (and a From header
//! is added at the top when the message has none), so MIME structure, line endings and
//! attachments go out unchanged.

use std::ops::Range;

/// One header field of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    /// The name as written (compare case-insensitively).
    pub name: String,
    /// The value, unfolded (continuation lines joined), trimmed.
    pub value: String,
    /// Where the whole field (all its lines, with line ends) sits in the raw message.
    pub span: Range<usize>,
}

/// A parsed message: its header fields and the raw bytes they came from.
#[derive(Debug, Clone)]
pub struct Message {
    raw: Vec<u8>,
    headers: Vec<HeaderField>,
}

/// A message that cannot be sent as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Nothing on stdin.
    #[error("the message on stdin is empty: write the headers and body to sendmail's stdin")]
    Empty,
    /// A header field name with characters RFC 5322 forbids, or no colon.
    #[error("header line {line} is not a header field (expected `Name: value`): {text:?}")]
    BadHeader {
        /// 1-based line number.
        line: usize,
        /// The line, shortened.
        text: String,
    },
}

impl Message {
    /// Parses the header section of `raw`. The body is everything after the first empty line.
    pub fn parse(raw: Vec<u8>) -> Result<Message, MessageError> {
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(MessageError::Empty);
        }
        let mut headers: Vec<HeaderField> = Vec::new();
        let mut pos = 0;
        let mut line_no = 0;
        while pos < raw.len() {
            let end = raw[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(raw.len(), |i| pos + i + 1);
            let line = &raw[pos..end];
            let content = trim_eol(line);
            line_no += 1;
            if content.is_empty() {
                break;
            }
            if content[0] == b' ' || content[0] == b'\t' {
                match headers.last_mut() {
                    Some(h) => {
                        h.value.push(' ');
                        h.value.push_str(String::from_utf8_lossy(content).trim());
                        h.span.end = end;
                    }
                    None => return Err(bad_header(line_no, content)),
                }
            } else {
                let colon = content.iter().position(|&b| b == b':');
                let Some(colon) = colon else {
                    return Err(bad_header(line_no, content));
                };
                let name = &content[..colon];
                if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b)) {
                    return Err(bad_header(line_no, content));
                }
                headers.push(HeaderField {
                    name: String::from_utf8_lossy(name).into_owned(),
                    value: String::from_utf8_lossy(&content[colon + 1..])
                        .trim()
                        .to_string(),
                    span: pos..end,
                });
            }
            pos = end;
        }
        Ok(Message { raw, headers })
    }

    /// Every header field, in order.
    pub fn headers(&self) -> &[HeaderField] {
        &self.headers
    }

    /// The unfolded values of every field named `name` (case-insensitive).
    pub fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The first value of `name`, if any.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.values(name).next()
    }

    /// Addresses in the To, Cc and Bcc fields, in order, without duplicates.
    pub fn header_recipients(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for name in ["To", "Cc", "Bcc"] {
            for value in self.values(name) {
                for addr in parse_address_list(value) {
                    if !out.iter().any(|a| a.eq_ignore_ascii_case(&addr)) {
                        out.push(addr);
                    }
                }
            }
        }
        out
    }

    /// The raw message without its Bcc and Resent-Bcc fields, with `extra` fields inserted first.
    pub fn to_send(&self, extra: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.raw.len() + extra.len());
        out.extend_from_slice(extra);
        let mut pos = 0;
        for h in &self.headers {
            if h.name.eq_ignore_ascii_case("Bcc") || h.name.eq_ignore_ascii_case("Resent-Bcc") {
                out.extend_from_slice(&self.raw[pos..h.span.start]);
                pos = h.span.end;
            }
        }
        out.extend_from_slice(&self.raw[pos..]);
        out
    }

    /// The line ending the message uses (`\r\n` when its first line ends so, else `\n`).
    pub fn line_ending(&self) -> &'static str {
        let first = self.raw.iter().position(|&b| b == b'\n');
        match first {
            Some(i) if i > 0 && self.raw[i - 1] == b'\r' => "\r\n",
            _ => "\n",
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn bad_header(line: usize, content: &[u8]) -> MessageError {
    let text: String = String::from_utf8_lossy(content).chars().take(80).collect();
    MessageError::BadHeader { line, text }
}

/// Cuts the input at a line holding a single dot (sendmail without `-i`).
pub fn cut_at_dot_line(input: &mut Vec<u8>) {
    let mut pos = 0;
    while pos < input.len() {
        let end = input[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(input.len(), |i| pos + i + 1);
        if trim_eol(&input[pos..end]) == b"." {
            input.truncate(pos);
            return;
        }
        pos = end;
    }
}

/// Extracts the addr-specs of an RFC 5322 address list: `a@b`, `Name <a@b>`, `"Last, First"
/// <a@b>`, comments in parentheses, groups (`team: a@b, c@d;`).
pub fn parse_address_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut angle: Option<String> = None;
    let mut in_angle = false;
    let mut in_quote = false;
    let mut comment_depth = 0usize;
    let mut chars = value.chars();
    let flush = |current: &mut String, angle: &mut Option<String>, out: &mut Vec<String>| {
        let addr = match angle.take() {
            Some(a) => a,
            None => current.split_whitespace().collect::<String>(),
        };
        let addr = addr.trim().to_string();
        if !addr.is_empty() {
            out.push(addr);
        }
        current.clear();
    };
    while let Some(c) = chars.next() {
        if in_quote {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_quote = false,
                _ => {}
            }
            continue;
        }
        if comment_depth > 0 {
            match c {
                '\\' => {
                    chars.next();
                }
                '(' => comment_depth += 1,
                ')' => comment_depth -= 1,
                _ => {}
            }
            continue;
        }
        if in_angle {
            match c {
                '>' => in_angle = false,
                c => angle.get_or_insert_with(String::new).push(c),
            }
            continue;
        }
        match c {
            '"' => {
                in_quote = true;
                current.clear();
            }
            '(' => comment_depth = 1,
            '<' => {
                in_angle = true;
                angle = Some(String::new());
            }
            ':' => current.clear(), // a group name ends; its members follow
            ',' | ';' => flush(&mut current, &mut angle, &mut out),
            c => current.push(c),
        }
    }
    flush(&mut current, &mut angle, &mut out);
    out.into_iter()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect()
}

/// True when `addr` looks like `local@domain`: one `@`, non-empty parts, a dot-free-or-dotted
/// domain of letters, digits, hyphens (or a literal), no whitespace or control characters.
pub fn is_plausible_address(addr: &str) -> bool {
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return false;
    };
    if local.is_empty() || domain.is_empty() || addr.len() > 320 {
        return false;
    }
    if addr
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
    {
        return false;
    }
    if domain.starts_with('[') && domain.ends_with(']') {
        return true;
    }
    domain.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_lists() {
        assert_eq!(parse_address_list("a@example.com"), ["a@example.com"]);
        assert_eq!(
            parse_address_list("\"Doe, John\" <john@example.com>, Jane <jane@example.com>"),
            ["john@example.com", "jane@example.com"]
        );
        assert_eq!(
            parse_address_list("x@example.com (The X), team: p@example.com, q@example.com;"),
            ["x@example.com", "p@example.com", "q@example.com"]
        );
        assert_eq!(
            parse_address_list("undisclosed-recipients:;"),
            Vec::<String>::new()
        );
        assert!(parse_address_list("").is_empty());
    }

    #[test]
    fn plausible_addresses() {
        assert!(is_plausible_address("a.b+c@mail.example.co.uk"));
        assert!(is_plausible_address("user@[192.0.2.1]"));
        assert!(is_plausible_address("élise@exämple.fr"));
        assert!(!is_plausible_address("nobody"));
        assert!(!is_plausible_address("a@"));
        assert!(!is_plausible_address("a b@example.com"));
        assert!(!is_plausible_address("a@exa_mple.com"));
        assert!(!is_plausible_address("a@example..com"));
    }

    #[test]
    fn headers_folding_and_bcc_stripping() {
        let raw = b"From: w@example.com\r\nTo: a@example.com,\r\n  b@example.com\r\nBcc: hidden@example.com,\r\n\tsecret@example.com\r\nSubject: hi\r\n\r\nBcc: not a header\r\n".to_vec();
        let msg = Message::parse(raw).unwrap();
        assert_eq!(msg.first("to"), Some("a@example.com, b@example.com"));
        assert_eq!(
            msg.header_recipients(),
            [
                "a@example.com",
                "b@example.com",
                "hidden@example.com",
                "secret@example.com"
            ]
        );
        let sent = String::from_utf8(msg.to_send(b"")).unwrap();
        assert_eq!(
            sent,
            "From: w@example.com\r\nTo: a@example.com,\r\n  b@example.com\r\nSubject: hi\r\n\r\nBcc: not a header\r\n"
        );
        assert_eq!(msg.line_ending(), "\r\n");
    }

    #[test]
    fn body_only_after_blank_line_and_errors() {
        assert_eq!(
            Message::parse(b"  \n".to_vec()).unwrap_err(),
            MessageError::Empty
        );
        assert!(matches!(
            Message::parse(b"To: a@example.com\nthis is not a header\n\nbody".to_vec()),
            Err(MessageError::BadHeader { line: 2, .. })
        ));
        assert!(matches!(
            Message::parse(b" folded first\n\n".to_vec()),
            Err(MessageError::BadHeader { line: 1, .. })
        ));
        let msg = Message::parse(b"To: a@example.com\n".to_vec()).unwrap();
        assert_eq!(msg.line_ending(), "\n");
        assert_eq!(
            msg.to_send(b"From: x@example.com\n"),
            b"From: x@example.com\nTo: a@example.com\n"
        );
    }

    #[test]
    fn dot_line_ends_input() {
        let mut input = b"To: a@example.com\n\nline\n.\nafter\n".to_vec();
        cut_at_dot_line(&mut input);
        assert_eq!(input, b"To: a@example.com\n\nline\n");
        let mut input = b"To: a@example.com\r\n\r\n..not\r\n".to_vec();
        cut_at_dot_line(&mut input);
        assert_eq!(input, b"To: a@example.com\r\n\r\n..not\r\n");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn header() -> impl Strategy<Value = (String, String)> {
            (
                prop::sample::select(vec![
                    "To",
                    "Cc",
                    "Bcc",
                    "Subject",
                    "X-Mailer",
                    "bcc",
                    "Resent-Bcc",
                ]),
                "[a-z]{1,8}@[a-z]{1,8}\\.example",
            )
                .prop_map(|(n, v)| (n.to_string(), v))
        }

        proptest! {
            /// Whatever the headers, the body goes out byte for byte and only Bcc lines vanish.
            #[test]
            fn only_bcc_lines_are_removed(
                headers in prop::collection::vec(header(), 1..8),
                body in prop::collection::vec(any::<u8>(), 0..300),
                crlf in any::<bool>(),
            ) {
                let eol = if crlf { "\r\n" } else { "\n" };
                let mut raw = Vec::new();
                let mut expected = Vec::new();
                for (name, value) in &headers {
                    let line = format!("{name}: {value}{eol}");
                    raw.extend_from_slice(line.as_bytes());
                    if !name.eq_ignore_ascii_case("bcc") && !name.eq_ignore_ascii_case("resent-bcc") {
                        expected.extend_from_slice(line.as_bytes());
                    }
                }
                for part in [eol.as_bytes(), &body[..]] {
                    raw.extend_from_slice(part);
                    expected.extend_from_slice(part);
                }
                let msg = Message::parse(raw).unwrap();
                prop_assert_eq!(msg.to_send(b""), expected);
            }
        }
    }
}
