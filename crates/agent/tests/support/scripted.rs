//! Scripted ports: a small in-memory cluster the tests set up, recording every call the agent
//! makes. Used only for the loop's own logic (lease, backoff, act order); the AWS side is proven
//! against moto server in crates/aws.

use idealstack_agent::ports::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct Script {
    pub desired_json: Option<Vec<u8>>,
    pub fail_state_reads: u32,
    pub services: Vec<ServiceState>,
    pub instances: Vec<ContainerInstance>,
    pub group: GroupState,
    pub demand: BTreeMap<String, f64>,
    pub ami: String,
    pub lease_holder: Option<(String, tokio::time::Instant)>,
    pub calls: Vec<String>,
    pub state_reads: Vec<tokio::time::Instant>,
    /// Other objects of the state bucket (purge requests), by key.
    pub objects: BTreeMap<String, Vec<u8>>,
}

pub type Shared = Arc<Mutex<Script>>;

#[derive(Clone)]
pub struct Fake(pub Shared);

fn ok<T: Send + 'static>(v: T) -> PortFuture<'static, T> {
    Box::pin(async move { Ok(v) })
}

impl Fake {
    fn call(&self, what: String) {
        self.0.lock().unwrap().calls.push(what);
    }
}

impl StateStore for Fake {
    fn get(&self, key: &str) -> PortFuture<'_, Option<Vec<u8>>> {
        let mut s = self.0.lock().unwrap();
        if key != idealstack_agent::desired::DESIRED_KEY {
            return ok(s.objects.get(key).cloned());
        }
        s.state_reads.push(tokio::time::Instant::now());
        if s.fail_state_reads > 0 {
            s.fail_state_reads -= 1;
            return Box::pin(async { Err(PortError::new("s3", "GetObject", "throttled")) });
        }
        ok(s.desired_json.clone())
    }
    fn list<'a>(&'a self, prefix: &'a str) -> PortFuture<'a, Vec<String>> {
        let s = self.0.lock().unwrap();
        ok(s.objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
    fn delete<'a>(&'a self, key: &'a str) -> PortFuture<'a, ()> {
        self.call(format!("s3:DeleteObject {key}"));
        self.0.lock().unwrap().objects.remove(key);
        ok(())
    }
}

impl Secrets for Fake {
    fn site_credentials(&self) -> PortFuture<'_, BTreeMap<String, SiteCredentials>> {
        ok(BTreeMap::new())
    }
    fn delete_site_secrets<'a>(&'a self, site: &'a str) -> PortFuture<'a, Vec<String>> {
        self.call(format!("secretsmanager:DeleteSecret site={site}"));
        ok(vec![format!("secret of {site} scheduled for deletion")])
    }
}

impl Databases for Fake {
    fn ensure<'a>(&'a self, _creds: &'a SiteCredentials) -> PortFuture<'a, Vec<String>> {
        ok(Vec::new())
    }
    fn drop_site<'a>(
        &'a self,
        _site: &'a str,
        database: &'a str,
        user: &'a str,
    ) -> PortFuture<'a, Vec<String>> {
        self.call(format!("mysql:DROP {database} {user}"));
        ok(vec![format!("database {database} dropped")])
    }
}

impl Ecs for Fake {
    fn services(&self) -> PortFuture<'_, Vec<ServiceState>> {
        ok(self.0.lock().unwrap().services.clone())
    }
    fn container_instances(&self) -> PortFuture<'_, Vec<ContainerInstance>> {
        ok(self.0.lock().unwrap().instances.clone())
    }
    fn set_desired_count<'a>(&'a self, service: &'a str, count: u32) -> PortFuture<'a, ()> {
        self.call(format!("ecs:UpdateService {service} desired={count}"));
        ok(())
    }
    fn redeploy<'a>(&'a self, service: &'a str) -> PortFuture<'a, ()> {
        self.call(format!("ecs:UpdateService {service} force-new-deployment"));
        ok(())
    }
    fn drain<'a>(&'a self, arn: &'a str) -> PortFuture<'a, ()> {
        self.call(format!("ecs:UpdateContainerInstancesState {arn} DRAINING"));
        ok(())
    }
}

impl AutoScaling for Fake {
    fn group(&self) -> PortFuture<'_, GroupState> {
        ok(self.0.lock().unwrap().group.clone())
    }
    fn refresh_in_progress(&self) -> PortFuture<'_, bool> {
        ok(self.0.lock().unwrap().group.refresh_in_progress)
    }
    fn set_desired(&self, count: u32) -> PortFuture<'_, ()> {
        self.call(format!("autoscaling:SetDesiredCapacity {count}"));
        ok(())
    }
    fn terminate<'a>(&'a self, id: &'a str, decrement: bool) -> PortFuture<'a, ()> {
        self.call(format!(
            "autoscaling:TerminateInstanceInAutoScalingGroup {id} decrement={decrement}"
        ));
        ok(())
    }
    fn start_refresh(&self) -> PortFuture<'_, String> {
        self.call("autoscaling:StartInstanceRefresh".into());
        ok("refresh-1".into())
    }
}

impl LoadBalancer for Fake {
    fn unhealthy_instances(&self) -> PortFuture<'_, Vec<String>> {
        ok(Vec::new())
    }
}

impl Metrics for Fake {
    fn request_rates<'a>(&'a self, _sites: &'a [String]) -> PortFuture<'a, BTreeMap<String, f64>> {
        ok(self.0.lock().unwrap().demand.clone())
    }
}

impl Images for Fake {
    fn latest_ecs_ami(&self) -> PortFuture<'_, String> {
        ok(self.0.lock().unwrap().ami.clone())
    }
}

impl Folders for Fake {
    fn ensure<'a>(&'a self, _site: &'a str, _uid: u32) -> PortFuture<'a, Vec<String>> {
        ok(Vec::new())
    }
    fn remove<'a>(&'a self, site: &'a str, uid: u32) -> PortFuture<'a, Vec<String>> {
        self.call(format!("efs:remove /sites/{site} uid={uid}"));
        ok(vec![format!("/sites/{site} deleted")])
    }
}

impl Lease for Fake {
    fn acquire<'a>(&'a self, holder: &'a str, ttl: u64) -> PortFuture<'a, bool> {
        let mut s = self.0.lock().unwrap();
        let now = tokio::time::Instant::now();
        let free = match &s.lease_holder {
            None => true,
            Some((h, until)) => h == holder || *until <= now,
        };
        if free {
            s.lease_holder = Some((
                holder.to_string(),
                now + std::time::Duration::from_secs(ttl),
            ));
        }
        ok(free)
    }
}

/// [`ports`] with database access (scripted secrets and databases).
#[allow(dead_code)]
pub fn ports_with_database(shared: &Shared) -> Ports {
    let f = Fake(shared.clone());
    Ports {
        secrets: Some(Box::new(f.clone())),
        databases: Some(Box::new(f)),
        ..ports(shared)
    }
}

/// Ports over one shared script (no database: the sites of these tests have none).
pub fn ports(shared: &Shared) -> Ports {
    let f = Fake(shared.clone());
    Ports {
        state: Box::new(f.clone()),
        ecs: Box::new(f.clone()),
        autoscaling: Box::new(f.clone()),
        load_balancer: Box::new(f.clone()),
        metrics: Box::new(f.clone()),
        images: Box::new(f.clone()),
        secrets: None,
        databases: None,
        folders: Box::new(f.clone()),
        lease: Box::new(f),
    }
}
