//! Secrets Manager port of the agent: the site database secrets of the stack (found by their
//! tags, since the site stacks create them unnamed) and the master secret.

use super::fail;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
use idealstack_agent::ports::{PortError, PortFuture, Secrets, SiteCredentials};
use std::collections::BTreeMap;

/// The stack's secrets.
#[derive(Debug, Clone)]
pub struct SecretsPort {
    client: Client,
    stack: String,
}

/// Where the database server is, from a site secret (`host`, `port`).
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl SecretsPort {
    /// For `stack`'s secrets.
    pub fn new(client: Client, stack: impl Into<String>) -> Self {
        SecretsPort {
            client,
            stack: stack.into(),
        }
    }

    async fn json(&self, id: &str) -> Result<serde_json::Value, PortError> {
        let v = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| fail("secretsmanager", "GetSecretValue", e))?;
        let text = v.secret_string().unwrap_or_default();
        // Never put the secret's text in an error: only its id.
        serde_json::from_str(text).map_err(|_| {
            PortError::new(
                "secretsmanager",
                "GetSecretValue",
                format!("secret {id} is not a JSON object: recreate it from the site stack"),
            )
        })
    }

    /// The master user's name and password (RDS-managed secret: `username`, `password`).
    pub async fn master(&self, arn: &str) -> Result<(String, String), PortError> {
        let v = self.json(arn).await?;
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        match (field("username"), field("password")) {
            (Some(u), Some(p)) => Ok((u, p)),
            _ => Err(PortError::new(
                "secretsmanager",
                "GetSecretValue",
                format!("master secret {arn} lacks username or password"),
            )),
        }
    }

    /// ARNs of the stack's site database secrets (not scheduled for deletion), with their site.
    async fn site_secrets(&self) -> Result<Vec<(String, String)>, PortError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_secrets()
            .filters(
                Filter::builder()
                    .key(FilterNameStringType::TagKey)
                    .values("idealstack:purpose")
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| fail("secretsmanager", "ListSecrets", e))?;
            for entry in page.secret_list() {
                let tag = |k: &str| {
                    entry
                        .tags()
                        .iter()
                        .find(|t| t.key() == Some(k))
                        .and_then(|t| t.value())
                        .map(str::to_string)
                };
                if tag("idealstack:stack").as_deref() != Some(self.stack.as_str())
                    || tag("idealstack:purpose").as_deref() != Some("site-database")
                    || entry.deleted_date().is_some()
                {
                    continue;
                }
                if let (Some(site), Some(arn)) = (tag("idealstack:site"), entry.arn()) {
                    out.push((site, arn.to_string()));
                }
            }
        }
        Ok(out)
    }

    /// Site credentials and the database endpoint they name.
    pub async fn sites(
        &self,
    ) -> Result<(BTreeMap<String, SiteCredentials>, Option<Endpoint>), PortError> {
        let mut out = BTreeMap::new();
        let mut endpoint = None;
        for (site, arn) in self.site_secrets().await? {
            let v = self.json(&arn).await?;
            let field = |k: &str| {
                v.get(k)
                    .map(|x| match x {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or_default()
            };
            if endpoint.is_none() && !field("host").is_empty() {
                endpoint = Some(Endpoint {
                    host: field("host"),
                    port: field("port").parse().unwrap_or(3306),
                });
            }
            out.insert(
                site.clone(),
                SiteCredentials {
                    site,
                    database: field("dbname"),
                    user: field("username"),
                    password: field("password"),
                },
            );
        }
        Ok((out, endpoint))
    }
}

/// Days a deleted site secret can still be restored (Secrets Manager's recovery window).
pub const RECOVERY_DAYS: i64 = 7;

impl Secrets for SecretsPort {
    fn site_credentials(&self) -> PortFuture<'_, BTreeMap<String, SiteCredentials>> {
        Box::pin(async move { Ok(self.sites().await?.0) })
    }

    fn delete_site_secrets<'a>(&'a self, site: &'a str) -> PortFuture<'a, Vec<String>> {
        Box::pin(async move {
            let mut done = Vec::new();
            for (_, arn) in self
                .site_secrets()
                .await?
                .into_iter()
                .filter(|(s, _)| s == site)
            {
                self.client
                    .delete_secret()
                    .secret_id(&arn)
                    .recovery_window_in_days(RECOVERY_DAYS)
                    .send()
                    .await
                    .map_err(|e| fail("secretsmanager", "DeleteSecret", e))?;
                done.push(format!(
                    "secret {arn} scheduled for deletion in {RECOVERY_DAYS} days"
                ));
            }
            Ok(done)
        })
    }
}
