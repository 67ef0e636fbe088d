//! PHP's mail() through `idealstack sendmail` to SES v2 on the emulator: the raw MIME (with a
//! binary attachment) arrives intact, Bcc recipients get it without the header, failures make
//! mail() return false, and every attempt leaves one log line with the site name.

mod runtime_support;

use idealstack_testbed::{Moto, scratch_dir};
use runtime_support::*;
use std::process::{Command, Stdio};

const MAIL: &str = r#"<?php
$boundary = 'b-' . bin2hex(random_bytes(8));
$attachment = '';
for ($i = 0; $i < 5000; $i++) { $attachment .= chr(($i * 7) % 256); }
$headers = "From: Shop <orders@shop.example>\r\n"
    . "Cc: Accounts <accounts@example.org>\r\n"
    . "Bcc: audit@example.net\r\n"
    . "Message-ID: <order-42@shop.example>\r\n"
    . "MIME-Version: 1.0\r\n"
    . "Content-Type: multipart/mixed; boundary=\"$boundary\"";
$body = "--$boundary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour order 42.\r\n.\r\nThanks.\r\n"
    . "--$boundary\r\nContent-Type: application/octet-stream; name=\"invoice.bin\"\r\n"
    . "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"invoice.bin\"\r\n\r\n"
    . chunk_split(base64_encode($attachment)) . "--$boundary--\r\n";
$from = $_GET['from'] ?? null;
if ($from !== null) { $headers = str_replace('orders@shop.example', $from, $headers); }
var_export(mail('Customer <customer@example.com>', 'Order 42', $body, $headers));
echo "\n", base64_encode($attachment);
"#;

/// Marks `shop.example` as a verified SES identity on the emulator (SES v2 CreateEmailIdentity).
fn verify_domain(endpoint: &str) {
    let r = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-H",
        "Authorization: AWS4-HMAC-SHA256 Credential=testing/20261126/us-east-1/ses/aws4_request, SignedHeaders=host, Signature=0",
        "--data-binary",
        r#"{"EmailIdentity":"shop.example"}"#,
        &format!("{endpoint}/v2/email/identities"),
    ]);
    assert_eq!(r.status, 200, "CreateEmailIdentity: {r:?}");
}

/// Raw messages SES received, from moto's model dump (`/moto-api/data.json`).
fn sent_raw_messages(endpoint: &str) -> Vec<serde_json::Value> {
    let r = curl(&[&format!("{endpoint}/moto-api/data.json")]);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("moto data.json");
    v["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn php_mail_with_attachment_arrives_intact_in_ses() {
    let scratch = scratch_dir("rt-mail");
    let moto = Moto::start();
    verify_domain(&moto.endpoint());
    let root = make_site_root(scratch.path());
    put(&root, "mail.php", MAIL);
    let stack = Stack::start(
        &aws_env(StackOptions::new(&root), &moto.endpoint()),
        scratch.path(),
    );

    let r = curl(&[&stack.url("/mail.php")]);
    let (result, attachment_b64) = r.body.split_once('\n').expect("two lines");
    assert_eq!(
        result,
        "true",
        "mail() returned false: {}",
        stack.stderr_text()
    );

    let sent = sent_raw_messages(&moto.endpoint());
    assert_eq!(sent.len(), 1, "{sent:?}");
    let raw = sent[0]["raw_data"].as_str().unwrap();
    let destinations: Vec<&str> = sent[0]["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    for who in [
        "customer@example.com",
        "accounts@example.org",
        "audit@example.net",
    ] {
        assert!(
            destinations.iter().any(|d| d.contains(who)),
            "{who} not among {destinations:?}"
        );
    }
    assert!(
        !raw.to_ascii_lowercase().contains("\nbcc:") && !raw.contains("audit@example.net"),
        "Bcc leaked: {raw}"
    );
    assert!(raw.contains("Subject: Order 42"), "{raw}");
    assert!(raw.contains("To: Customer <customer@example.com>"), "{raw}");
    assert!(raw.contains("Message-ID: <order-42@shop.example>"), "{raw}");
    assert!(
        raw.contains("Your order 42.\r\n.\r\nThanks."),
        "a lone dot line is kept with -i: {raw}"
    );
    // The attachment's base64, line for line as PHP wrote it.
    let attachment_lines = {
        let mut s = String::new();
        for chunk in attachment_b64.as_bytes().chunks(76) {
            s.push_str(std::str::from_utf8(chunk).unwrap());
            s.push_str("\r\n");
        }
        s
    };
    assert!(
        raw.contains(&attachment_lines),
        "attachment changed in transit"
    );

    std::thread::sleep(std::time::Duration::from_millis(300));
    let err = stack.stderr_text();
    let line = err
        .lines()
        .find(|l| l.contains("sendmail:"))
        .unwrap_or_else(|| panic!("no sendmail line: {err}"));
    let ses_id = sent[0]["id"].as_str().unwrap();
    assert!(
        line.starts_with("site=shop type=php msg=sendmail: site=shop status=sent "),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "ses_id={ses_id} message_id=<order-42@shop.example> recipients=3 "
        )),
        "{line}"
    );
}

#[test]
fn a_rejected_message_makes_mail_return_false_and_is_logged() {
    let scratch = scratch_dir("rt-mail-fail");
    let moto = Moto::start();
    verify_domain(&moto.endpoint());
    let root = make_site_root(scratch.path());
    put(&root, "mail.php", MAIL);
    let stack = Stack::start(
        &aws_env(StackOptions::new(&root), &moto.endpoint()),
        scratch.path(),
    );
    // SES refuses senders that are not verified identities.
    let r = curl(&[&stack.url("/mail.php?from=someone@unverified.example")]);
    assert!(r.body.starts_with("false\n"), "{r:?}");
    assert!(sent_raw_messages(&moto.endpoint()).is_empty());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let err = stack.stderr_text();
    let line = err
        .lines()
        .find(|l| l.contains("sendmail:"))
        .unwrap_or_else(|| panic!("no sendmail line: {err}"));
    assert!(line.contains("sendmail: site=shop status=failed exit=65 message_id=<order-42@shop.example> reason=\"message rejected by the mail service: "), "{line}");
}

/// Runs the binary as PHP would, with `input` on stdin.
fn sendmail(args: &[&str], env: &[(&str, String)], input: &[u8]) -> (i32, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_idealstack"))
        .arg("sendmail")
        .args(args)
        .env_clear()
        .env("IDEALSTACK_SITE", "shop")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run idealstack sendmail");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.stdout.is_empty(), "sendmail writes nothing to stdout");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_binary_exits_with_sendmail_codes() {
    let msg = b"From: orders@shop.example\nTo: customer@example.com\nSubject: hi\n\nbody\n";
    // A mode a full MTA has but this program has not: EX_USAGE.
    let (code, err) = sendmail(&["-bs"], &[], msg);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.starts_with("sendmail: site=shop status=failed exit=64 "),
        "{err}"
    );
    // No recipients: EX_DATAERR.
    let (code, _) = sendmail(
        &["-t", "-i"],
        &[],
        b"From: a@shop.example\nSubject: x\n\nbody",
    );
    assert_eq!(code, 65);
    // The mail service is unreachable: EX_TEMPFAIL, so callers that queue can retry.
    let dead = format!("http://127.0.0.1:{}", idealstack_testbed::free_port());
    let env = [
        ("AWS_ENDPOINT_URL", dead),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_MAX_ATTEMPTS", "1".to_string()),
    ];
    let (code, err) = sendmail(&["-t", "-i"], &env, msg);
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("status=failed exit=75"), "{err}");
    // No region at all: EX_CONFIG, with the fix in the message.
    let (code, err) = sendmail(
        &["-t", "-i"],
        &[
            ("AWS_ACCESS_KEY_ID", "x".into()),
            ("AWS_SECRET_ACCESS_KEY", "y".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ],
        msg,
    );
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("AWS_REGION"), "{err}");
}

#[test]
fn mail_without_a_from_header_goes_out_from_the_address_the_template_sets() {
    // The environment of the site container exactly as the site's template renders it.
    let def = runtime_support::container::container_definition(
        "email-mariadb",
        "shopco-site-store",
        "TaskDefinition",
    );
    let refs = std::collections::BTreeMap::from([
        ("AWS::Region", "us-east-1".to_string()),
        ("SessionsTableName", "shopco-sessions".to_string()),
    ]);
    let template_env = runtime_support::container::environment(&def, &refs);
    let moto = Moto::start();
    let r = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-H",
        "Authorization: AWS4-HMAC-SHA256 Credential=testing/20261126/us-east-1/ses/aws4_request, SignedHeaders=host, Signature=0",
        "--data-binary",
        r#"{"EmailIdentity":"shopco.example"}"#,
        &format!("{}/v2/email/identities", moto.endpoint()),
    ]);
    assert_eq!(r.status, 200, "CreateEmailIdentity: {r:?}");
    let mut env: Vec<(&str, String)> = template_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    env.extend([
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
    ]);
    let (code, err) = sendmail(
        &["-t", "-i"],
        &env,
        b"To: customer@example.com\nSubject: Your order\n\nThanks.\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("site=store status=sent"), "{err}");
    let sent = sent_raw_messages(&moto.endpoint());
    assert_eq!(sent.len(), 1, "{sent:?}");
    let raw = sent[0]["raw_data"].as_str().unwrap();
    assert!(raw.contains("From: store@shopco.example"), "{raw}");
}
