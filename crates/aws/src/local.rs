//! `idealstack local`'s port to the emulator ([`idealstack_local::ports::Emulator`]): what ECS,
//! EFS, Secrets Manager, SSM, Elastic Load Balancing, CloudWatch Logs and CloudFormation hold
//! after the stacks were deployed into it, read with the AWS SDK like any other consumer.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{TaskDefinition as SdkTaskDefinition, TransportProtocol};
use idealstack_local::ports::{Emulator, PortError, TargetGroup};
use idealstack_local::router::{Action, Rule};
use idealstack_local::spec::{
    AccessPoint, Container, Creation, EfsVolume, MountPoint, OneOffTask, PortMapping, Service,
    TaskDefinition, Tmpfs, Ulimit, Volume,
};

/// SDK clients for the emulator.
#[derive(Debug, Clone)]
pub struct LocalPort {
    ecs: aws_sdk_ecs::Client,
    efs: aws_sdk_efs::Client,
    secrets: aws_sdk_secretsmanager::Client,
    ssm: aws_sdk_ssm::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    cfn: aws_sdk_cloudformation::Client,
}

fn fail<E: std::error::Error>(call: &str, e: E) -> PortError {
    // The SDK's context can carry the whole raw answer: keep the first line's worth.
    let mut message = aws_sdk_ecs::error::DisplayErrorContext(e).to_string();
    if message.len() > 400 {
        let mut end = 400;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str("...");
    }
    PortError {
        call: call.to_string(),
        message,
    }
}

impl LocalPort {
    /// Clients for the emulator at `endpoint` with dummy credentials in `region`.
    pub async fn connect(endpoint: &str, region: &str) -> LocalPort {
        let creds =
            aws_sdk_ecs::config::Credentials::new("testing", "testing", None, None, "local");
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .endpoint_url(endpoint)
            .credentials_provider(creds)
            .retry_config(crate::retry_config())
            .load()
            .await;
        LocalPort {
            ecs: aws_sdk_ecs::Client::new(&config),
            efs: aws_sdk_efs::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            cfn: aws_sdk_cloudformation::Client::new(&config),
        }
    }
}

fn s(v: Option<&str>) -> String {
    v.unwrap_or_default().to_string()
}

fn convert(td: &SdkTaskDefinition) -> TaskDefinition {
    let containers = td
        .container_definitions()
        .iter()
        .map(|c| {
            let lp = c.linux_parameters();
            Container {
                name: s(c.name()),
                image: s(c.image()),
                entry_point: c.entry_point().to_vec(),
                command: c.command().to_vec(),
                environment: c
                    .environment()
                    .iter()
                    .map(|kv| (s(kv.name()), s(kv.value())))
                    .collect(),
                secrets: c
                    .secrets()
                    .iter()
                    .map(|kv| (kv.name().to_string(), kv.value_from().to_string()))
                    .collect(),
                user: c.user().map(str::to_string),
                essential: c.essential().unwrap_or(true),
                read_only_root: c.readonly_root_filesystem().unwrap_or(false),
                privileged: c.privileged().unwrap_or(false),
                init_process: lp.and_then(|l| l.init_process_enabled()).unwrap_or(false),
                tmpfs: lp
                    .map(|l| {
                        l.tmpfs()
                            .iter()
                            .map(|t| Tmpfs {
                                path: t.container_path().to_string(),
                                size_mib: t.size().max(0) as u32,
                                options: t.mount_options().to_vec(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                port_mappings: c
                    .port_mappings()
                    .iter()
                    .map(|p| PortMapping {
                        container_port: p.container_port().unwrap_or(0).max(0) as u16,
                        host_port: p.host_port().unwrap_or(0).max(0) as u16,
                        protocol: match p.protocol() {
                            Some(TransportProtocol::Udp) => "udp".into(),
                            _ => "tcp".into(),
                        },
                    })
                    .collect(),
                mount_points: c
                    .mount_points()
                    .iter()
                    .map(|m| MountPoint {
                        source_volume: s(m.source_volume()),
                        container_path: s(m.container_path()),
                        read_only: m.read_only().unwrap_or(false),
                    })
                    .collect(),
                capabilities_add: lp
                    .and_then(|l| l.capabilities())
                    .map(|k| k.add().to_vec())
                    .unwrap_or_default(),
                capabilities_drop: lp
                    .and_then(|l| l.capabilities())
                    .map(|k| k.drop().to_vec())
                    .unwrap_or_default(),
                ulimits: c
                    .ulimits()
                    .iter()
                    .map(|u| Ulimit {
                        name: u.name().as_str().to_string(),
                        soft: u.soft_limit().into(),
                        hard: u.hard_limit().into(),
                    })
                    .collect(),
                dns_search_domains: c.dns_search_domains().to_vec(),
                memory_mib: c.memory().map(|m| m.max(0) as u32),
                memory_reservation_mib: c.memory_reservation().map(|m| m.max(0) as u32),
                cpu_units: Some(c.cpu().max(0) as u32).filter(|c| *c > 0),
                stop_timeout_seconds: c.stop_timeout().map(|t| t.max(0) as u32),
                working_directory: c.working_directory().map(str::to_string),
                awslogs: c
                    .log_configuration()
                    .filter(|l| l.log_driver().as_str() == "awslogs")
                    .map(|l| {
                        l.options()
                            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                            .unwrap_or_default()
                    }),
            }
        })
        .collect();
    TaskDefinition {
        arn: s(td.task_definition_arn()),
        family: s(td.family()),
        revision: td.revision(),
        network_mode: td
            .network_mode()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| "bridge".into()),
        task_role_arn: td.task_role_arn().map(str::to_string),
        execution_role_arn: td.execution_role_arn().map(str::to_string),
        memory_mib: td.memory().and_then(|m| m.parse().ok()),
        cpu_units: td.cpu().and_then(|c| c.parse().ok()),
        containers,
        volumes: td
            .volumes()
            .iter()
            .map(|v| Volume {
                name: s(v.name()),
                efs: v.efs_volume_configuration().map(|e| EfsVolume {
                    file_system_id: e.file_system_id().to_string(),
                    root_directory: e.root_directory().unwrap_or("/").to_string(),
                    access_point_id: e
                        .authorization_config()
                        .and_then(|a| a.access_point_id())
                        .map(str::to_string),
                }),
            })
            .collect(),
    }
}

impl Emulator for LocalPort {
    async fn services(&self, cluster: &str) -> Result<Vec<Service>, PortError> {
        // Before the cluster stack exists (or after it is gone) there is nothing to run.
        let list = match self.ecs.list_services().cluster(cluster).send().await {
            Ok(list) => list,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_cluster_not_found_exception()) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(fail("ecs ListServices", e)),
        };
        let arns = list.service_arns().to_vec();
        let mut out = Vec::new();
        for chunk in arns.chunks(10) {
            let resp = self
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| fail("ecs DescribeServices", e))?;
            for sv in resp.services() {
                if sv.status() == Some("INACTIVE") {
                    continue;
                }
                out.push(Service {
                    name: s(sv.service_name()),
                    arn: s(sv.service_arn()),
                    task_definition: s(sv.task_definition()),
                    desired_count: sv.desired_count().max(0) as u32,
                    scheduling: sv
                        .scheduling_strategy()
                        .map(|x| x.as_str().to_string())
                        .unwrap_or_else(|| "REPLICA".into()),
                    load_balancers: sv
                        .load_balancers()
                        .iter()
                        .map(|lb| {
                            (
                                s(lb.target_group_arn()),
                                s(lb.container_name()),
                                lb.container_port().unwrap_or(0).max(0) as u16,
                            )
                        })
                        .collect(),
                });
            }
        }
        Ok(out)
    }

    async fn one_off_tasks(&self, cluster: &str) -> Result<Vec<OneOffTask>, PortError> {
        let sent = self
            .ecs
            .list_tasks()
            .cluster(cluster)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
            .send()
            .await;
        let list = match sent {
            Ok(list) => list,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_cluster_not_found_exception()) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(fail("ecs ListTasks", e)),
        };
        if list.task_arns().is_empty() {
            return Ok(Vec::new());
        }
        let resp = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(list.task_arns().to_vec()))
            .send()
            .await
            .map_err(|e| fail("ecs DescribeTasks", e))?;
        Ok(resp
            .tasks()
            .iter()
            .filter(|t| !t.group().unwrap_or_default().starts_with("service:"))
            .filter(|t| t.desired_status() != Some("STOPPED"))
            .map(|t| OneOffTask {
                arn: s(t.task_arn()),
                task_definition: s(t.task_definition_arn()),
                command_overrides: t
                    .overrides()
                    .map(|o| {
                        o.container_overrides()
                            .iter()
                            .filter(|c| !c.command().is_empty())
                            .map(|c| (s(c.name()), c.command().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect())
    }

    async fn task_definition(&self, arn: &str) -> Result<TaskDefinition, PortError> {
        let resp = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| fail("ecs DescribeTaskDefinition", e))?;
        resp.task_definition()
            .map(convert)
            .ok_or_else(|| PortError {
                call: "ecs DescribeTaskDefinition".into(),
                message: format!("no task definition {arn}"),
            })
    }

    async fn access_points(&self) -> Result<Vec<AccessPoint>, PortError> {
        let resp = self
            .efs
            .describe_access_points()
            .send()
            .await
            .map_err(|e| fail("efs DescribeAccessPoints", e))?;
        Ok(resp
            .access_points()
            .iter()
            .map(|a| AccessPoint {
                id: s(a.access_point_id()),
                file_system_id: s(a.file_system_id()),
                path: a
                    .root_directory()
                    .and_then(|r| r.path())
                    .unwrap_or("/")
                    .to_string(),
                creation: a
                    .root_directory()
                    .and_then(|r| r.creation_info())
                    .map(|c| Creation {
                        uid: c.owner_uid() as u32,
                        gid: c.owner_gid() as u32,
                        mode: u32::from_str_radix(c.permissions(), 8).unwrap_or(0o755),
                    }),
                posix_user: a.posix_user().map(|p| (p.uid() as u32, p.gid() as u32)),
            })
            .collect())
    }

    async fn secret_string(&self, arn: &str) -> Result<String, PortError> {
        let resp = self
            .secrets
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| fail("secretsmanager GetSecretValue", e))?;
        Ok(s(resp.secret_string()))
    }

    async fn parameter(&self, name: &str) -> Result<String, PortError> {
        let resp = self
            .ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| fail("ssm GetParameter", e))?;
        Ok(resp
            .parameter()
            .and_then(|p| p.value())
            .unwrap_or_default()
            .to_string())
    }

    async fn routes(&self, stack: &str) -> Result<(Vec<Rule>, Vec<TargetGroup>), PortError> {
        let lbs = self
            .elb
            .describe_load_balancers()
            .send()
            .await
            .map_err(|e| fail("elbv2 DescribeLoadBalancers", e))?;
        let mut rules = Vec::new();
        for lb in lbs.load_balancers() {
            if lb.r#type().map(|t| t.as_str()) == Some("network") {
                continue;
            }
            let listeners = self
                .elb
                .describe_listeners()
                .load_balancer_arn(s(lb.load_balancer_arn()))
                .send()
                .await
                .map_err(|e| fail("elbv2 DescribeListeners", e))?;
            for l in listeners.listeners() {
                if l.protocol().map(|p| p.as_str()) != Some("HTTPS") {
                    continue;
                }
                let resp = self
                    .elb
                    .describe_rules()
                    .listener_arn(s(l.listener_arn()))
                    .send()
                    .await
                    .map_err(|e| fail("elbv2 DescribeRules", e))?;
                for r in resp.rules() {
                    let priority = if r.is_default() == Some(true) {
                        u32::MAX
                    } else {
                        r.priority()
                            .and_then(|p| p.parse().ok())
                            .unwrap_or(u32::MAX - 1)
                    };
                    let hosts: Vec<String> = r
                        .conditions()
                        .iter()
                        .filter(|c| c.field() == Some("host-header"))
                        .flat_map(|c| {
                            let mut v: Vec<String> = c
                                .host_header_config()
                                .map(|h| h.values().to_vec())
                                .unwrap_or_default();
                            v.extend(c.values().iter().cloned());
                            v
                        })
                        .collect();
                    let Some(a) = r.actions().first() else {
                        continue;
                    };
                    let action = match a.r#type().map(|t| t.as_str()) {
                        Some("forward") => Action::Forward(s(a.target_group_arn().or_else(|| {
                            a.forward_config()
                                .and_then(|f| f.target_groups().first())
                                .and_then(|t| t.target_group_arn())
                        }))),
                        Some("redirect") => {
                            let c = a.redirect_config();
                            Action::Redirect {
                                protocol: c
                                    .and_then(|c| c.protocol())
                                    .unwrap_or("#{protocol}")
                                    .to_string(),
                                host: c.and_then(|c| c.host()).unwrap_or("#{host}").to_string(),
                                port: c.and_then(|c| c.port()).unwrap_or("#{port}").to_string(),
                                path: c.and_then(|c| c.path()).unwrap_or("/#{path}").to_string(),
                                query: c.and_then(|c| c.query()).unwrap_or("#{query}").to_string(),
                                status: if c.and_then(|c| c.status_code()).map(|x| x.as_str())
                                    == Some("HTTP_302")
                                {
                                    302
                                } else {
                                    301
                                },
                            }
                        }
                        _ => {
                            let f = a.fixed_response_config();
                            Action::Fixed {
                                status: f
                                    .and_then(|f| f.status_code().and_then(|x| x.parse().ok()))
                                    .unwrap_or(404),
                                body: s(f.and_then(|f| f.message_body())),
                            }
                        }
                    };
                    rules.push(Rule {
                        priority,
                        hosts,
                        action,
                    });
                }
            }
        }
        let tgs = self
            .elb
            .describe_target_groups()
            .send()
            .await
            .map_err(|e| fail("elbv2 DescribeTargetGroups", e))?;
        let groups = tgs
            .target_groups()
            .iter()
            .map(|t| TargetGroup {
                arn: s(t.target_group_arn()),
                protocol: t
                    .protocol()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
                health_path: t.health_check_path().map(str::to_string),
            })
            .collect();
        let _ = stack;
        Ok((rules, groups))
    }

    async fn put_logs(
        &self,
        group: &str,
        stream: &str,
        events: Vec<(i64, String)>,
    ) -> Result<(), PortError> {
        if events.is_empty() {
            return Ok(());
        }
        // CreateLogStream answers ResourceAlreadyExists once the stream exists: that is fine.
        let _ = self
            .logs
            .create_log_stream()
            .log_group_name(group)
            .log_stream_name(stream)
            .send()
            .await;
        let mut req = self
            .logs
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(stream);
        for (ts, message) in events {
            req = req.log_events(
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(ts)
                    .message(message)
                    .build()
                    .map_err(|e| fail("logs PutLogEvents", e))?,
            );
        }
        req.send().await.map_err(|e| fail("logs PutLogEvents", e))?;
        Ok(())
    }

    async fn task_stopped(
        &self,
        cluster: &str,
        arn: &str,
        exit_code: i32,
    ) -> Result<(), PortError> {
        self.ecs
            .stop_task()
            .cluster(cluster)
            .task(arn)
            .reason(format!(
                "Essential container in task exited (exit code {exit_code})"
            ))
            .send()
            .await
            .map_err(|e| fail("ecs StopTask", e))?;
        Ok(())
    }

    async fn stack_outputs(&self, stack: &str) -> Result<BTreeMap<String, String>, PortError> {
        match self.cfn.describe_stacks().stack_name(stack).send().await {
            Ok(resp) => Ok(resp
                .stacks()
                .first()
                .map(|st| {
                    st.outputs()
                        .iter()
                        .map(|o| (s(o.output_key()), s(o.output_value())))
                        .collect()
                })
                .unwrap_or_default()),
            Err(e) => {
                let text = aws_sdk_ecs::error::DisplayErrorContext(&e).to_string();
                if text.contains("does not exist") {
                    Ok(BTreeMap::new())
                } else {
                    Err(fail("cloudformation DescribeStacks", e))
                }
            }
        }
    }
}
