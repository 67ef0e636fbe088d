//! The awslogs driver: a container's output, line by line, into its CloudWatch log group in the
//! emulator, on the stream ECS names (`<awslogs-stream-prefix>/<container>/<task id>`), batched
//! each second.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

/// The stream name ECS's awslogs driver uses.
pub fn stream_name(options: &BTreeMap<String, String>, container: &str, task_id: &str) -> String {
    match options.get("awslogs-stream-prefix") {
        Some(prefix) if !prefix.is_empty() => format!("{prefix}/{container}/{task_id}"),
        _ => task_id.to_string(),
    }
}

/// A batch of lines for one stream.
#[derive(Debug)]
pub struct Batch {
    pub group: String,
    pub stream: String,
    pub events: Vec<(i64, String)>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Follows `podman logs --follow <id>` and sends batches to `out` until the container stops.
pub async fn follow(
    podman_conf: Option<std::path::PathBuf>,
    id: String,
    group: String,
    stream: String,
    out: mpsc::Sender<Batch>,
) {
    let mut cmd = tokio::process::Command::new("podman");
    if let Some(conf) = podman_conf {
        cmd.env("CONTAINERS_CONF", conf);
    }
    cmd.args(["logs", "--follow", &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let Ok(mut child) = cmd.spawn() else { return };
    let (tx, mut rx) = mpsc::channel::<String>(1024);
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut buf = Vec::new();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            line = rx.recv() => match line {
                Some(l) => buf.push((now_ms(), l)),
                None => break,
            },
            _ = tick.tick() => {
                if !buf.is_empty() {
                    let events = std::mem::take(&mut buf);
                    let _ = out.send(Batch { group: group.clone(), stream: stream.clone(), events }).await;
                }
            }
        }
    }
    if !buf.is_empty() {
        let _ = out
            .send(Batch {
                group,
                stream,
                events: buf,
            })
            .await;
    }
    let _ = child.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_named_as_ecs_names_them() {
        let mut o = BTreeMap::new();
        o.insert("awslogs-stream-prefix".to_string(), "php".to_string());
        assert_eq!(stream_name(&o, "php", "abc"), "php/php/abc");
        assert_eq!(stream_name(&BTreeMap::new(), "php", "abc"), "abc");
    }
}
