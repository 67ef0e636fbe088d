//! Throttling does not fail a deploy: a proxy in front of moto server answers the first requests
//! the way CloudFormation does when an account calls too fast (HTTP 400, `Throttling`, "Rate
//! exceeded"), then passes requests through; the deployer's clients retry and get the answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use idealstack_aws::deploy::Aws;
use idealstack_deploy::ports::StackApi;
use idealstack_testbed::Moto;

/// One HTTP/1.1 message: head lines and body (by Content-Length).
fn read_message(r: &mut BufReader<TcpStream>) -> Option<(Vec<String>, Vec<u8>)> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_string());
    }
    let length = head
        .iter()
        .find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    r.read_exact(&mut body).ok()?;
    Some((head, body))
}

fn write_message(w: &mut TcpStream, head: &[String], body: &[u8]) {
    for h in head {
        w.write_all(h.as_bytes()).unwrap();
        w.write_all(b"\r\n").unwrap();
    }
    w.write_all(b"\r\n").unwrap();
    w.write_all(body).unwrap();
}

/// Starts the proxy to `upstream`; the first `throttled` requests are refused.
fn throttling_proxy(upstream: u16, throttled: usize) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut client = client;
                while let Some((head, body)) = read_message(&mut reader) {
                    if counter.fetch_add(1, Ordering::SeqCst) < throttled {
                        let xml = b"<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>throttled</RequestId></ErrorResponse>";
                        write_message(
                            &mut client,
                            &[
                                "HTTP/1.1 400 Bad Request".into(),
                                "Content-Type: text/xml".into(),
                                format!("Content-Length: {}", xml.len()),
                            ],
                            xml,
                        );
                        continue;
                    }
                    // Passed through on a connection of its own, closed after the answer.
                    let mut up = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                    let head: Vec<String> = head
                        .into_iter()
                        .filter(|h| !h.to_ascii_lowercase().starts_with("connection:"))
                        .chain(["Connection: close".to_string()])
                        .collect();
                    write_message(&mut up, &head, &body);
                    let mut up_reader = BufReader::new(up);
                    let Some((rhead, rbody)) = read_message(&mut up_reader) else {
                        return;
                    };
                    write_message(&mut client, &rhead, &rbody);
                }
            });
        }
    });
    (port, seen)
}

#[test]
fn throttled_calls_are_retried_not_failed() {
    let moto = Moto::start();
    let port: u16 = moto
        .endpoint()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let (proxy, seen) = throttling_proxy(port, 3);
    let aws = Aws::for_emulator(&format!("http://127.0.0.1:{proxy}")).unwrap();
    // A stack that does not exist: the answer moto gives once the throttling stops.
    let answer = StackApi::describe(&aws, "nothing-here").unwrap();
    assert!(answer.is_none());
    assert_eq!(
        seen.load(Ordering::SeqCst),
        4,
        "three throttled attempts, then the answer"
    );
}
