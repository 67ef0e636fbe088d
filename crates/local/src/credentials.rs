//! The container credentials endpoint, as ECS serves it: containers get
//! `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/<task>` and every SDK (the Rust SDK in
//! the idealstack image, the PHP session handler) fetches `http://169.254.170.2<uri>`, the
//! address ECS uses. `local` adds that address to the loopback interface of the machine (as the
//! ECS agent routes it on an instance) and answers with the emulator's credentials and the task's
//! role; an unknown task gets 404, as from ECS.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;

/// ECS's credentials address.
pub const ADDRESS: &str = "169.254.170.2";

/// The relative URI of a task's credentials.
pub fn relative_uri(task_id: &str) -> String {
    format!("/v2/credentials/{task_id}")
}

/// Task id -> role ARN of the tasks that may fetch credentials.
#[derive(Debug, Default)]
pub struct Roles(pub RwLock<BTreeMap<String, String>>);

impl Roles {
    /// Lets `task_id` fetch credentials for `role`.
    pub fn grant(&self, task_id: &str, role: &str) {
        if let Ok(mut m) = self.0.write() {
            m.insert(task_id.to_string(), role.to_string());
        }
    }

    /// Forgets a removed task.
    pub fn revoke(&self, task_id: &str) {
        if let Ok(mut m) = self.0.write() {
            m.remove(task_id);
        }
    }

    /// The body for `path`, or `None` for an unknown task.
    pub fn answer(&self, path: &str) -> Option<String> {
        let task = path.strip_prefix("/v2/credentials/")?;
        let role = self.0.read().ok()?.get(task)?.clone();
        // The emulator accepts any key; the expiry is far enough that no SDK refreshes mid-test
        // but near enough that a refresh path exists.
        let expiration = "2099-01-01T00:00:00Z";
        Some(
            serde_json::json!({
                "AccessKeyId": "testing",
                "SecretAccessKey": "testing",
                "Token": "testing",
                "Expiration": expiration,
                "RoleArn": role,
            })
            .to_string(),
        )
    }
}

/// Serves `roles` on `listener` until dropped.
pub async fn serve(roles: Arc<Roles>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let roles = roles.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let answer = roles.answer(req.uri().path());
                    async move {
                        let (status, body) = match answer {
                            Some(b) => (StatusCode::OK, b),
                            None => (
                                StatusCode::NOT_FOUND,
                                "{\"message\":\"unknown task\"}".into(),
                            ),
                        };
                        let mut r = Response::new(Full::new(Bytes::from(body)));
                        *r.status_mut() = status;
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_tasks_get_credentials() {
        let roles = Roles::default();
        roles.grant("t1", "arn:aws:iam::1:role/site");
        let body = roles.answer(&relative_uri("t1")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["RoleArn"], "arn:aws:iam::1:role/site");
        assert!(v["AccessKeyId"].is_string() && v["Token"].is_string());
        assert!(roles.answer(&relative_uri("t2")).is_none());
        roles.revoke("t1");
        assert!(roles.answer(&relative_uri("t1")).is_none());
    }
}
