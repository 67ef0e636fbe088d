//! The sendmail command line, as PHP (`sendmail -t -i`, plus `mail()`'s fifth argument, usually
//! `-f sender`) and CMSs that call sendmail directly pass it.
//!
//! Flags follow getopt conventions: clusters (`-ti`), values attached (`-fa@b`) or separate
//! (`-f a@b`), `--` ends the options, options and recipients may be mixed. Modes other than
//! "deliver a message" (`-bs`, `-bp`, `-q`, `-bd`...) are refused with EX_USAGE, because this
//! program only submits mail. Flags that only tune a local MTA (`-oem`, `-odb`, `-v`, `-N`, `-X`...)
//! are accepted and ignored. As in Postfix, recipients named on the command line are added to
//! those found in the headers with `-t`.

use crate::message::{is_plausible_address, parse_address_list};
use std::ffi::OsString;

/// What one invocation asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    /// `-t`: take recipients from the To, Cc and Bcc headers.
    pub recipients_from_headers: bool,
    /// `-i` / `-oi`: a line holding a single dot does not end the message.
    pub ignore_dots: bool,
    /// `-f` / `-r`: the envelope sender.
    pub envelope_from: Option<String>,
    /// `-F`: the sender's full name, used only when a From header must be added.
    pub full_name: Option<String>,
    /// Recipients named on the command line.
    pub recipients: Vec<String>,
}

/// A command line this program cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// A flag that takes a value came last.
    #[error(
        "option -{flag} needs a value: pass it attached (-{flag}value) or as the next argument"
    )]
    MissingValue {
        /// The flag letter.
        flag: char,
    },
    /// A mode of a full MTA (SMTP on stdin, queue runs, daemon, alias rebuild).
    #[error(
        "option {arg} asks for a mode this program does not have: it only submits one message read from stdin (use -t -i)"
    )]
    UnsupportedMode {
        /// The argument as given.
        arg: String,
    },
    /// An unknown flag letter.
    #[error(
        "unknown option -{flag} in {arg}: supported are -t -i -f -r -F -o<x> and ignored MTA tuning flags"
    )]
    UnknownFlag {
        /// The letter.
        flag: char,
        /// The whole argument.
        arg: String,
    },
    /// An argument that is not valid UTF-8.
    #[error("argument {arg:?} is not valid UTF-8: pass addresses as UTF-8 text")]
    NotUtf8 {
        /// The argument, lossily decoded.
        arg: String,
    },
    /// A recipient or sender that is not an address.
    #[error("{what} {value:?} is not an e-mail address: expected local@domain")]
    BadAddress {
        /// "recipient" or "sender (-f)".
        what: &'static str,
        /// The value given.
        value: String,
    },
}

/// Flags that take a value (attached or next argument) and are otherwise ignored.
const IGNORED_WITH_VALUE: &[char] = &['N', 'R', 'V', 'X', 'B', 'L', 'C', 'h', 'p', 'A', 'O'];
/// Flags without a value that are ignored.
const IGNORED_BOOL: &[char] = &['v', 'n', 'm', 'U', 'G', 'x', 'c', 'e'];

/// Parses the arguments that follow the program name.
pub fn parse_args<I>(args: I) -> Result<Invocation, ArgsError>
where
    I: IntoIterator<Item = OsString>,
{
    let mut args = args
        .into_iter()
        .map(|a| {
            a.into_string().map_err(|a| ArgsError::NotUtf8 {
                arg: a.to_string_lossy().into_owned(),
            })
        })
        .collect::<Result<Vec<String>, _>>()?
        .into_iter();
    let mut inv = Invocation::default();
    let mut options_done = false;
    while let Some(arg) = args.next() {
        if options_done || !arg.starts_with('-') || arg == "-" {
            add_recipients(&mut inv, &arg)?;
            continue;
        }
        if arg == "--" {
            options_done = true;
            continue;
        }
        let body: Vec<char> = arg[1..].chars().collect();
        let mut i = 0;
        while i < body.len() {
            let flag = body[i];
            let rest: String = body[i + 1..].iter().collect();
            match flag {
                't' => inv.recipients_from_headers = true,
                'i' => inv.ignore_dots = true,
                'b' => {
                    // -bm is "deliver mail", the default; every other mode is refused.
                    if rest == "m" {
                        break;
                    }
                    return Err(ArgsError::UnsupportedMode { arg: arg.clone() });
                }
                'q' | 'I' => return Err(ArgsError::UnsupportedMode { arg: arg.clone() }),
                'o' => {
                    // Old-style option: the value is attached (-oi, -oem, -odb, -oQ/dir).
                    if rest.is_empty() {
                        return Err(ArgsError::MissingValue { flag });
                    }
                    if rest == "i" || rest.starts_with("i=") && !rest.ends_with("false") {
                        inv.ignore_dots = true;
                    }
                    break;
                }
                'f' | 'r' | 'F' => {
                    let value = if rest.is_empty() {
                        args.next().ok_or(ArgsError::MissingValue { flag })?
                    } else {
                        rest
                    };
                    if flag == 'F' {
                        inv.full_name = Some(value.trim().to_string());
                    } else {
                        inv.envelope_from = parse_sender(&value)?;
                    }
                    break;
                }
                f if IGNORED_WITH_VALUE.contains(&f) => {
                    if rest.is_empty() {
                        args.next().ok_or(ArgsError::MissingValue { flag })?;
                    }
                    break;
                }
                f if IGNORED_BOOL.contains(&f) => {}
                other => {
                    return Err(ArgsError::UnknownFlag {
                        flag: other,
                        arg: arg.clone(),
                    });
                }
            }
            i += 1;
        }
    }
    Ok(inv)
}

/// `-f` value: `a@b`, `<a@b>`, `Name <a@b>`; empty or `<>` means the null sender (none here).
fn parse_sender(value: &str) -> Result<Option<String>, ArgsError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed == "<>" {
        return Ok(None);
    }
    let found = parse_address_list(trimmed);
    match found.as_slice() {
        [one] if is_plausible_address(one) => Ok(Some(one.clone())),
        _ => Err(ArgsError::BadAddress {
            what: "sender (-f)",
            value: value.to_string(),
        }),
    }
}

fn add_recipients(inv: &mut Invocation, arg: &str) -> Result<(), ArgsError> {
    let found = parse_address_list(arg);
    if found.is_empty() {
        return Err(ArgsError::BadAddress {
            what: "recipient",
            value: arg.to_string(),
        });
    }
    for addr in found {
        if !is_plausible_address(&addr) {
            return Err(ArgsError::BadAddress {
                what: "recipient",
                value: addr,
            });
        }
        inv.recipients.push(addr);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Invocation, ArgsError> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn php_default_command_line() {
        let inv = parse(&["-t", "-i"]).unwrap();
        assert!(inv.recipients_from_headers);
        assert!(inv.ignore_dots);
        assert_eq!(inv.envelope_from, None);
        assert!(inv.recipients.is_empty());
    }

    #[test]
    fn clustered_and_attached_values() {
        let inv = parse(&["-ti", "-fbounce@example.com"]).unwrap();
        assert!(inv.recipients_from_headers && inv.ignore_dots);
        assert_eq!(inv.envelope_from.as_deref(), Some("bounce@example.com"));
        let inv = parse(&["-t", "-f", "<w@example.com>", "-oi", "-F", "Web Site"]).unwrap();
        assert!(inv.ignore_dots);
        assert_eq!(inv.envelope_from.as_deref(), Some("w@example.com"));
        assert_eq!(inv.full_name.as_deref(), Some("Web Site"));
        let inv = parse(&["-r", "x@example.org", "-oem", "-odb", "-v"]).unwrap();
        assert_eq!(inv.envelope_from.as_deref(), Some("x@example.org"));
    }

    #[test]
    fn recipients_on_the_command_line() {
        let inv = parse(&[
            "-i",
            "a@example.com",
            "B <b@example.com>, c@example.com",
            "--",
            "-d@example.com",
        ])
        .unwrap();
        assert_eq!(
            inv.recipients,
            [
                "a@example.com",
                "b@example.com",
                "c@example.com",
                "-d@example.com"
            ]
        );
    }

    #[test]
    fn null_sender_is_none() {
        assert_eq!(parse(&["-f", "<>"]).unwrap().envelope_from, None);
        assert_eq!(parse(&["-f", ""]).unwrap().envelope_from, None);
    }

    #[test]
    fn refused_modes_and_errors() {
        assert!(matches!(
            parse(&["-bs"]),
            Err(ArgsError::UnsupportedMode { .. })
        ));
        assert!(matches!(
            parse(&["-bp"]),
            Err(ArgsError::UnsupportedMode { .. })
        ));
        assert!(matches!(
            parse(&["-q"]),
            Err(ArgsError::UnsupportedMode { .. })
        ));
        assert!(parse(&["-bm", "-t"]).is_ok());
        assert!(matches!(
            parse(&["-f"]),
            Err(ArgsError::MissingValue { flag: 'f' })
        ));
        assert!(matches!(
            parse(&["-Z"]),
            Err(ArgsError::UnknownFlag { flag: 'Z', .. })
        ));
        assert!(matches!(
            parse(&["-f", "not an address"]),
            Err(ArgsError::BadAddress { .. })
        ));
        assert!(matches!(
            parse(&["nobody"]),
            Err(ArgsError::BadAddress { .. })
        ));
        let msg = parse(&["-bs"]).unwrap_err().to_string();
        assert!(msg.contains("-bs") && msg.contains("-t -i"), "{msg}");
    }

    #[test]
    fn ignored_flags_consume_their_values() {
        let inv = parse(&["-N", "never", "-X", "/tmp/log", "-t", "to@example.com"]).unwrap();
        assert_eq!(inv.recipients, ["to@example.com"]);
    }
}
