//! Domain names as ALB host rules and ACM certificates need them: lowercase ASCII (punycode for
//! internationalised names), an optional leading wildcard label, within DNS length limits.

use std::fmt;

/// A validated, normalised host name (`shop.example.com`, `*.example.com`, `xn--bcher-kva.example`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Domain(String);

impl Domain {
    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the leftmost label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }

    /// The www/apex counterpart: `www.example.com` <-> `example.com`. None for wildcards and for
    /// names where dropping `www.` would leave a single label.
    pub fn www_counterpart(&self) -> Option<Domain> {
        if self.is_wildcard() {
            return None;
        }
        match self.0.strip_prefix("www.") {
            Some(rest) if rest.contains('.') => Some(Domain(rest.to_owned())),
            Some(_) => None,
            None => Some(Domain(format!("www.{}", self.0))),
        }
    }

    /// `<label>.<self>`, for preview hosts; `label` must be a valid DNS label.
    pub fn child(&self, label: &str) -> Domain {
        Domain(format!("{label}.{}", self.0))
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a name is not a usable domain (the message completes "<value> is not a valid domain name: ").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Empty input.
    #[error("it is empty")]
    Empty,
    /// A scheme, path, port or other URL part.
    #[error("write the host name alone, without {0}")]
    NotAHost(&'static str),
    /// IDNA conversion failed.
    #[error("it cannot be converted to ASCII (punycode)")]
    Idna,
    /// A `*` anywhere but as the whole leftmost label.
    #[error("a wildcard may only be the whole leftmost label, as in *.example.com")]
    BadWildcard,
    /// Fewer than two labels.
    #[error("it needs at least two labels, as in example.com")]
    SingleLabel,
    /// Two dots in a row, or a leading dot.
    #[error("it has an empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    /// A label over 63 characters.
    #[error("the label `{0}` is longer than 63 characters")]
    LabelTooLong(String),
    /// A character DNS host names do not allow.
    #[error("the label `{0}` may only hold letters, digits and hyphens")]
    BadCharacter(String),
    /// A label starting or ending with a hyphen.
    #[error("the label `{0}` starts or ends with a hyphen")]
    EdgeHyphen(String),
    /// A numeric top-level label (an IP address, most likely).
    #[error("the last label `{0}` is numeric; IP addresses cannot be site domains")]
    NumericTld(String),
    /// Longer than a load balancer host condition allows.
    #[error("it is {0} characters long; load balancer host rules allow at most 128")]
    TooLong(usize),
}

/// Normalises and checks a domain name as typed in the manifest.
///
/// Accepts mixed case, a trailing dot, Unicode labels (converted to punycode) and a leading `*.`.
pub fn parse_domain(input: &str) -> Result<Domain, DomainError> {
    let trimmed = input.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Err(DomainError::Empty);
    }
    if trimmed.contains("://") {
        return Err(DomainError::NotAHost("a scheme such as https://"));
    }
    for (c, what) in [
        ('/', "a path"),
        (':', "a port"),
        ('@', "a user name"),
        (' ', "spaces"),
    ] {
        if trimmed.contains(c) {
            return Err(DomainError::NotAHost(what));
        }
    }
    let (wildcard, rest) = match trimmed.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    if rest.contains('*') {
        return Err(DomainError::BadWildcard);
    }
    if rest.split('.').any(str::is_empty) {
        return Err(DomainError::EmptyLabel);
    }
    let ascii = if rest.is_ascii() {
        rest.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(rest).map_err(|_| DomainError::Idna)?
    };
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(DomainError::SingleLabel);
    }
    for label in &labels {
        if label.is_empty() {
            return Err(DomainError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(DomainError::LabelTooLong((*label).to_owned()));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(DomainError::BadCharacter((*label).to_owned()));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(DomainError::EdgeHyphen((*label).to_owned()));
        }
    }
    let tld = labels[labels.len() - 1];
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::NumericTld(tld.to_owned()));
    }
    let full = if wildcard {
        format!("*.{ascii}")
    } else {
        ascii
    };
    if full.len() > 128 {
        return Err(DomainError::TooLong(full.len()));
    }
    Ok(Domain(full))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: Result<&str, DomainError>) {
        let got = parse_domain(input);
        assert_eq!(
            got.as_ref().map(Domain::as_str).map_err(Clone::clone),
            expected,
            "{input}"
        );
    }

    #[test]
    fn normalises_and_rejects() {
        check("Shop.Example.COM.", Ok("shop.example.com"));
        check("*.example.com", Ok("*.example.com"));
        check("bücher.example", Ok("xn--bcher-kva.example"));
        check("ÉCOLE.example", Ok("xn--cole-9oa.example"));
        check("", Err(DomainError::Empty));
        check(
            "https://shop.example.com",
            Err(DomainError::NotAHost("a scheme such as https://")),
        );
        check("shop.example.com/x", Err(DomainError::NotAHost("a path")));
        check(
            "shop.example.com:8080",
            Err(DomainError::NotAHost("a port")),
        );
        check("shop..example.com", Err(DomainError::EmptyLabel));
        check("a.*.example.com", Err(DomainError::BadWildcard));
        check("localhost", Err(DomainError::SingleLabel));
        check(
            "-shop.example.com",
            Err(DomainError::EdgeHyphen("-shop".into())),
        );
        check(
            "shop_1.example.com",
            Err(DomainError::BadCharacter("shop_1".into())),
        );
        check("10.0.0.1", Err(DomainError::NumericTld("1".into())));
        let long = format!("{}.com", "a".repeat(64));
        check(&long, Err(DomainError::LabelTooLong("a".repeat(64))));
    }

    #[test]
    fn www_counterparts() {
        let d = |s: &str| parse_domain(s).unwrap();
        assert_eq!(
            d("example.com").www_counterpart(),
            Some(d("www.example.com"))
        );
        assert_eq!(
            d("www.example.com").www_counterpart(),
            Some(d("example.com"))
        );
        assert_eq!(d("*.example.com").www_counterpart(), None);
    }
}
