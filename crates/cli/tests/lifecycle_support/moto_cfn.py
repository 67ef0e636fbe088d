"""moto server with CloudFormation change-set execution closer to the real service.

Test support for the deploy lifecycle tests and scripts/run. It changes only the emulator, never
what idealstack sends. Named gaps of moto 5.2.5 that this file fills (each checked by
`crates/cli/tests/lifecycle_moto_gaps.rs`, so a moto upgrade that fixes or changes one is noticed):

1. OUTPUTS: a stack created by executing a CREATE change set keeps the Outputs computed when the
   empty stack was made (none). Real CloudFormation resolves Outputs after the resources exist.
   Filled: outputs are recomputed after the change set is applied.
2. PARAMETERS: executing an UPDATE change set does not store the new parameter values on the
   stack, so a later identical change set is not seen as "no changes". Filled: stored.
3. ASYNC: ExecuteChangeSet applies everything before it answers, and an error while applying is
   returned as the API error of ExecuteChangeSet (moto's own "TODO: handle execution errors and
   implement rollback"). Real CloudFormation answers at once, the stack is *_IN_PROGRESS, and a
   failure shows as a resource *_FAILED event followed by a rollback. Filled: execution runs on a
   thread after IDEALSTACK_MOTO_DELAY seconds (default 0.3) with CREATE_IN_PROGRESS/UPDATE_IN_PROGRESS
   status; an exception while applying becomes a FAILED resource event and ROLLBACK_COMPLETE (create)
   or UPDATE_ROLLBACK_COMPLETE (update).
4. RESOURCE EVENTS: moto records only stack-level events for change sets. Filled: one
   *_IN_PROGRESS and one *_COMPLETE event per changed resource, from the change set's changes.

5. RDS PARAMETER GROUP REF: `Ref` to an AWS::RDS::DBParameterGroup resolves to moto's Python object
   instead of the group's name, so a DBInstance naming it fails ("'DBParameterGroup' object has no
   attribute 'startswith'"). Filled: the group's physical id is its name, as in CloudFormation.
6. NLB TYPE: moto's AWS::ElasticLoadBalancingV2::LoadBalancer ignores `Type`, so every load
   balancer is an ALB and the SFTP NLB's TCP listener is refused. Filled: `Type` is passed on.
7. RDS MASTER SECRET ATTRIBUTE: `Fn::GetAtt [Database, MasterUserSecret.SecretArn]` is not supported
   (moto answers describe-stacks with a 500 once such an output exists). Filled: the ARN of the
   secret moto made for ManageMasterUserPassword, or a well-formed placeholder ARN if it made none.
8. EFS ACCESS POINT ATTRIBUTES: AWS::EFS::AccessPoint has no GetAtt support (`Arn`, `AccessPointId`),
   and `Ref` to it is moto's Python object (a task definition's volume names
   "<moto.efs.models.AccessPoint object at ...>"). Filled: both attributes answered from moto's
   access point, and `Ref` is its id, as in CloudFormation.
9. OTHER GETATT GAPS: an output whose value moto cannot compute makes every DescribeStacks of the
   stack fail, and an output that refers to a resource type moto does not model (the cluster's
   AWS::ECS::CapacityProvider) silently vanishes. Filled: such an output gets the value
   `moto-gap:<why>` (or `moto-gap-<Output>`) and the gap is printed on stderr (MOTO_LOG=1 shows
   it), so dependent stacks still receive a parameter.
10. REPLACEMENT: moto's change sets say `Modify` without `Replacement`, so a change that replaces a
   resource looks like an in-place update. Filled for the data resources idealstack guards, from
   CloudFormation's resource reference ("Update requires: Replacement"): a `Modify` whose changed
   properties include one of REPLACEMENT_PROPERTIES gets `Replacement: True`, otherwise `False`.

11. TERMINATION PROTECTION: moto has no UpdateTerminationProtection action. Filled: it sets the
   flag DescribeStacks reports.
12. PARAMETER-ONLY UPDATES: a change of parameter values alone (a site's image tag when its PHP
   version changes) reaches only resources that name the parameter with `Ref`, not with `Fn::Sub`;
   the change set itself is computed without the parameters, so it lists nothing; and a resource
   that CloudFormation replaces (every AWS::ECS::TaskDefinition change registers a new revision)
   leaves the resources that refer to it on the old physical id (the ECS service keeps running
   the old revision). Filled: references include `Fn::Sub` variables and `Fn::GetAtt` targets, the
   change set is computed with its parameters, and resources referring to a replaced resource are
   updated too.
13. TASK DEFINITION UPDATE: moto's AWS::ECS::TaskDefinition update registers the new revision with
   CloudFormation's PascalCase container keys (`Image`), so DescribeTaskDefinition shows no image,
   and an AWS::ECS::Service update points the service at the family name, not the revision's ARN.
   Filled: an update registers the revision as a create does and deregisters the old one; the
   service is given the new revision's ARN.
14. LISTENER RULE DELETE: deleting a stack leaves its AWS::ElasticLoadBalancingV2::ListenerRule
   resources on the listener (moto's model has no delete), so a removed site keeps answering for
   its hosts. Filled: the rule is deleted with its stack.
15. STACK POLICY: moto stores a stack policy but does not enforce it ("no validation/parsing/
   enforcement"). Filled: executing a change set that modifies, replaces or removes a resource
   that a Deny statement names for that action fails at that resource with CloudFormation's
   "Action denied by stack policy" reason and rolls back.
16. UPDATE WITHOUT AN UPDATE MODEL: updating a resource whose type moto cannot update
   (AWS::RDS::DBInstance) stores nothing in its place, so every later `Ref`/`Fn::GetAtt` to it
   fails ("references undefined resource"). Filled: the resource is kept as it was.
17. DELETION PROTECTION: moto's AWS::ElasticLoadBalancingV2::LoadBalancer ignores
   `LoadBalancerAttributes` (deletion_protection.enabled stays false), and moto deletes a load
   balancer whose deletion protection is on. Real ELB refuses (OperationNotPermitted), so a stack
   holding one cannot be deleted: CloudFormation ends it in DELETE_FAILED (moto instead answers
   DeleteStack with an error and forgets the stack). Filled: the attributes are applied, a
   protected load balancer is not deleted, and a stack whose resources cannot all be deleted is
   kept in DELETE_FAILED with a DELETE_FAILED event for each resource left.
18. CREATE ROLLBACK: real CloudFormation creates the resources before the one that fails and
   deletes them again while rolling back; a resource that cannot be deleted ends the stack in
   ROLLBACK_FAILED. Moto has no rollback at all (gap 3). Filled for failures injected with the
   `rollback-deletes` prefix (below): the change set is applied, then every resource is deleted
   as in gap 17, ending in ROLLBACK_COMPLETE or ROLLBACK_FAILED.
19. LISTENER CERTIFICATE: moto has no AWS::ElasticLoadBalancingV2::ListenerCertificate (the
   resource is skipped with "No Moto CloudFormation support"), and its RemoveListenerCertificates
   removes a listener's default certificate, which real ELB refuses: a listener always keeps its
   default. Filled: the resource adds its certificates to the listener and removes them when
   deleted, and removing the listener's default certificate fails (OperationNotPermitted), so the
   stack that tries ends in DELETE_FAILED (gap 17).
20. SECRETS MANAGER SECRET: moto has no AWS::SecretsManager::Secret (skipped with "No Moto
   CloudFormation support"), so `Ref` to a site's database secret stays `${DatabaseSecret}` in
   the task definition's Secrets and the secret never exists. Filled: the secret is created with
   its SecretString, or one made from GenerateSecretString (template, key, length, exclusions) as
   Secrets Manager makes it; `Ref` is its ARN; deleting the resource deletes it.
21. RDS MANAGED MASTER PASSWORD: moto's AWS::RDS::DBInstance ignores ManageMasterUserPassword, so no
   master secret exists (and gap 7 can only name a placeholder). Filled: the instance gets the
   secret RDS makes, holding the template's MasterUsername and a generated password.
22. TASK DEFINITION PROPERTIES: moto's AWS::ECS::TaskDefinition passes on only the family, the
   containers, the volumes and the memory: TaskRoleArn, ExecutionRoleArn, NetworkMode, Cpu and
   RequiresCompatibilities are lost, so a task gets no role; its volumes are renamed key by key
   (`eFSVolumeConfiguration`, `filesystemId`), so no SDK sees a volume's EFS file system. Filled:
   all of them are registered, volumes with the API's names.
23. SERVICE LOAD BALANCERS: moto's AWS::ECS::Service drops LoadBalancers and SchedulingStrategy
   ("TODO: LoadBalancers"), so DescribeServices shows no target group and a DAEMON service as a
   REPLICA one. Filled: both are passed on, load balancers with the API's names.

Failure injection (the tests' "a resource fails"): if the file named by IDEALSTACK_MOTO_FAIL_FILE
exists, each line `<stack-name> <LogicalResourceId> <reason...>` makes the next execution of a
change set on that stack fail at that resource (before anything is applied, as a real rollback
leaves the stack as it was). A line `rollback-deletes <stack-name> <LogicalResourceId> <reason...>`
fails a create after its other resources were made, which the rollback deletes (gap 18).

Slow stacks (the tests' "a deploy interrupted while a stack is in progress"): if the file named by
IDEALSTACK_MOTO_DELAY_FILE exists, each line `<stack-name> <seconds>` replaces the delay for that
stack.

Usage: python moto_cfn.py <port>
"""

import json
import os
import re
import sys
import threading
import time

from werkzeug.serving import run_simple

from moto.cloudformation import models as cfn
from moto.cloudformation.models import Event
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

from moto.elbv2 import models as elbv2_models
from moto.rds import models as rds_models

rds_models.DBParameterGroup.physical_resource_id = property(lambda self: self.name)


def create_load_balancer_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json["Properties"]
    backend = elbv2_models.elbv2_backends[account_id][region_name]
    balancer = backend.create_load_balancer(
        resource_name,
        properties.get("SecurityGroups"),
        properties.get("Subnets"),
        scheme=properties.get("Scheme", "internet-facing"),
        loadbalancer_type=properties.get("Type", "application"),
    )
    # Named gap 17: the attributes (deletion protection among them) are applied.
    attrs = {
        a["Key"]: a["Value"]
        for a in properties.get("LoadBalancerAttributes", [])
        if a.get("Key") in elbv2_models.FakeLoadBalancer.VALID_ATTRS
    }
    if attrs:
        backend.modify_load_balancer_attributes(balancer.arn, attrs)
    return balancer


# Named gap 17: a protected load balancer is not deleted (API and CloudFormation alike).
from moto.elbv2 import exceptions as elbv2_exceptions  # noqa: E402


class OperationNotPermitted(elbv2_exceptions.ELBClientError):
    def __init__(self, arn):
        super().__init__(
            "OperationNotPermitted",
            f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled",
        )


_delete_load_balancer = elbv2_models.ELBv2Backend.delete_load_balancer


def delete_load_balancer(self, arn):
    balancer = self.load_balancers.get(arn)
    if balancer is not None and str(balancer.attrs.get("deletion_protection.enabled")).lower() == "true":
        raise OperationNotPermitted(arn)
    return _delete_load_balancer(self, arn)


elbv2_models.ELBv2Backend.delete_load_balancer = delete_load_balancer

# Named gap 19: listener certificates, and a default certificate that cannot be removed.
from moto.core.common_models import CloudFormationModel  # noqa: E402

_remove_listener_certificates = elbv2_models.ELBv2Backend.remove_listener_certificates


def remove_listener_certificates(self, arn, certificates):
    listener = self.describe_listeners(load_balancer_arn=None, listener_arns=[arn])[0]
    for c in certificates:
        if c["CertificateArn"] == listener.certificate:
            raise elbv2_exceptions.ELBClientError(
                "OperationNotPermitted",
                f"The default certificate '{listener.certificate}' of a listener cannot be removed",
            )
    return _remove_listener_certificates(self, arn, certificates)


elbv2_models.ELBv2Backend.remove_listener_certificates = remove_listener_certificates


class FakeListenerCertificate(CloudFormationModel):
    # moto's model metaclass files every model under the service its module names.
    __module__ = "moto.elbv2.models"

    def __init__(self, account_id, region_name, listener_arn, certificates):
        self.account_id = account_id
        self.region_name = region_name
        self.listener_arn = listener_arn
        self.certificates = certificates
        self.id = f"{listener_arn}|{','.join(c['CertificateArn'] for c in certificates)}"

    @property
    def physical_resource_id(self):
        return self.id

    @staticmethod
    def cloudformation_name_type():
        return ""

    @staticmethod
    def cloudformation_type():
        return "AWS::ElasticLoadBalancingV2::ListenerCertificate"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        certificates = [{"CertificateArn": c["CertificateArn"]} for c in properties["Certificates"]]
        backend = elbv2_models.elbv2_backends[account_id][region_name]
        backend.add_listener_certificates(properties["ListenerArn"], certificates)
        return cls(account_id, region_name, properties["ListenerArn"], certificates)

    def delete(self, account_id, region_name):
        backend = elbv2_models.elbv2_backends[account_id][region_name]
        try:
            backend.remove_listener_certificates(self.listener_arn, self.certificates)
        except elbv2_exceptions.ListenerNotFoundError:
            pass  # gone with its load balancer: nothing to remove


elbv2_models.FakeLoadBalancer.create_from_cloudformation_json = classmethod(create_load_balancer_from_cfn)
# Named gap 14: listener rules are deleted with their stack.
elbv2_models.FakeListenerRule.delete = lambda self, account_id, region: elbv2_models.elbv2_backends[account_id][region].delete_rule(self.arn)

_db_get_attr = rds_models.DBInstance.get_cfn_attribute
_db_has_attr = rds_models.DBInstance.has_cfn_attr.__func__


def db_get_attr(self, attribute_name):
    if attribute_name == "MasterUserSecret.SecretArn":
        secret = getattr(self, "master_user_secret", None)
        if secret is not None:
            return secret.secret.arn
        return f"arn:aws:secretsmanager:{self.region}:{self.account_id}:secret:rds!db-moto-{self.db_instance_identifier}-AbCdEf"
    return _db_get_attr(self, attribute_name)


rds_models.DBInstance.get_cfn_attribute = db_get_attr
rds_models.DBInstance.has_cfn_attr = classmethod(lambda cls, attr: attr == "MasterUserSecret.SecretArn" or _db_has_attr(cls, attr))

from moto.cloudformation import parsing as cfn_parsing
from moto.efs import models as efs_models


def access_point_attr(self, attribute_name):
    if attribute_name == "Arn":
        return self.access_point_arn
    if attribute_name == "AccessPointId":
        return self.access_point_id
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

    raise UnformattedGetAttTemplateException()


efs_models.AccessPoint.get_cfn_attribute = access_point_attr
efs_models.AccessPoint.has_cfn_attr = classmethod(lambda cls, attr: attr in ("Arn", "AccessPointId"))
efs_models.AccessPoint.physical_resource_id = property(lambda self: self.access_point_id)

_parse_output = cfn_parsing.parse_output


def parse_output(output_logical_id, output_json, resources_map):
    try:
        output = _parse_output(output_logical_id, output_json, resources_map)
    except Exception as e:  # noqa: BLE001 - named gap 9
        print(f"moto-gap: output {output_logical_id}: {e}", file=sys.stderr)
        return cfn_parsing.Output(key=output_logical_id, value=f"moto-gap:{type(e).__name__}", description=output_json.get("Description"))
    # Named gap 9 too: a Ref to a resource type moto does not model (AWS::ECS::CapacityProvider)
    # resolves to nothing and the output vanishes; CloudFormation always has it.
    unconditional = "Condition" not in output_json
    if unconditional and (output is None or output.value is None):
        print(f"moto-gap: output {output_logical_id}: resolves to nothing in moto", file=sys.stderr)
        return cfn_parsing.Output(key=output_logical_id, value=f"moto-gap-{output_logical_id}", description=output_json.get("Description"))
    return output


cfn_parsing.parse_output = parse_output

# CloudFormation resource reference, "Update requires: Replacement", for the data resources.
REPLACEMENT_PROPERTIES = {
    "AWS::RDS::DBInstance": {"Engine", "DBInstanceIdentifier", "KmsKeyId", "StorageEncrypted", "DBName", "DBSubnetGroupName", "CharacterSetName"},
    "AWS::EFS::FileSystem": {"Encrypted", "KmsKeyId", "PerformanceMode", "AvailabilityZoneName"},
    "AWS::DynamoDB::Table": {"TableName", "KeySchema"},
    "AWS::S3::Bucket": {"BucketName"},
}

# Named gap 11: moto has no UpdateTerminationProtection action. Filled: it sets the flag that
# DescribeStacks already reports (EnableTerminationProtection).
from moto.cloudformation import responses as cfn_responses  # noqa: E402
from moto.core.responses import ActionResult  # noqa: E402


def update_termination_protection(self):
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    stack.enable_termination_protection = self._get_param("EnableTerminationProtection") in ("true", True)
    return ActionResult({"StackId": stack.stack_id})


cfn_responses.CloudFormationResponse.update_termination_protection = update_termination_protection



def diff_with_replacement(self):
    changes = _diff(self)
    old = (self.stack.template_dict or {}).get("Resources", {}) if self.stack.template else {}
    new = self.template_dict.get("Resources", {})
    for change in changes:
        if change.action != "Modify":
            continue
        before = old.get(change.logical_resource_id, {}).get("Properties", {})
        after = new.get(change.logical_resource_id, {}).get("Properties", {})
        change.replacement = "True" if replaced(change.resource_type, before, after) else "False"
    return changes


# Named gap 12: parameter-only updates and dependents of replaced resources.
ALWAYS_REPLACED = {"AWS::ECS::TaskDefinition"}


def references(node):
    """Names a template fragment refers to: `Ref`, `Fn::Sub` variables, `Fn::GetAtt` targets."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                if isinstance(text, str):
                    found.update(v.split(".")[0] for v in re.findall(r"\$\{([^!}][^}]*)\}", text))
                if isinstance(value, list) and len(value) > 1:
                    found.update(references(value[1]))
            else:
                found.update(references(value))
    elif isinstance(node, list):
        for item in node:
            found.update(references(item))
    return found


def replaced(resource_type, before, after):
    if resource_type in ALWAYS_REPLACED:
        return True
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    return bool(changed & REPLACEMENT_PROPERTIES.get(resource_type, set()))


def build_resource_diff(self, other_template, parameters=None):
    old = self._resource_json_map
    new = other_template["Resources"]
    add = [n for n in new if n not in old]
    modify = [n for n in new if n in old and new[n] != old[n]]
    remove = [n for n in old if n not in new]
    if parameters:
        changed = {p for p in parameters if self.input_parameters.get(p) != parameters[p]}
        modify += [n for n in new if n in old and n not in modify and references(new[n]) & changed]
    # A replaced resource gets a new physical id: whatever refers to it is updated as well.
    grew = True
    while grew:
        gone = {
            n for n in modify
            if replaced(new[n].get("Type"), old[n].get("Properties", {}) or {}, new[n].get("Properties", {}) or {})
        }
        more = [n for n in new if n in old and n not in modify and references(new[n]) & gone]
        modify += more
        grew = bool(more)
    return {"Add": add, "Modify": modify, "Remove": remove}


cfn_parsing.ResourceMap.build_resource_diff = build_resource_diff


def diff_with_parameters(self):
    """The change set's changes, computed with its parameters (moto computes them without)."""
    resource_map = self.stack.resource_map
    actions = resource_map.build_resource_diff(self.template_dict, self.parameters)
    new = self.template_dict.get("Resources", {})
    old = resource_map._resource_json_map
    changes = []
    for action, names in actions.items():
        for name in names:
            source = old if action == "Remove" else new
            changes.append(cfn.Change(action=action, logical_resource_id=name, resource_type=source[name]["Type"]))
    return changes


_diff = diff_with_parameters

# Named gap 16: a resource moto cannot update is kept, not replaced by nothing.
_parse_and_update = cfn_parsing.parse_and_update_resource


def parse_and_update_keeping(logical_id, resource_json, resources_map, account_id, region_name):
    updated = _parse_and_update(logical_id, resource_json, resources_map, account_id, region_name)
    if updated is None:
        return resources_map[logical_id]
    return updated


cfn_parsing.parse_and_update_resource = parse_and_update_keeping

# Named gap 13: task definition updates.
from moto.ecs import models as ecs_models  # noqa: E402


def task_definition_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    revision = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
    ecs_models.ecs_backends[account_id][region_name].deregister_task_definition(original_resource.arn)
    return revision


ecs_models.TaskDefinition.update_from_cloudformation_json = classmethod(task_definition_update)


# Named gap 20: AWS::SecretsManager::Secret.
from moto.secretsmanager import models as sm_models  # noqa: E402


def generated_secret_string(backend, spec):
    """The string Secrets Manager makes from a GenerateSecretString property."""
    def flag(name):
        return str(spec.get(name, False)).lower() == "true"

    password = json.loads(backend.get_random_password(
        password_length=int(spec.get("PasswordLength", 32)),
        exclude_characters=spec.get("ExcludeCharacters", ""),
        exclude_numbers=flag("ExcludeNumbers"),
        exclude_punctuation=flag("ExcludePunctuation"),
        exclude_uppercase=flag("ExcludeUppercase"),
        exclude_lowercase=flag("ExcludeLowercase"),
        include_space=flag("IncludeSpace"),
        require_each_included_type=str(spec.get("RequireEachIncludedType", True)).lower() == "true",
    ))["RandomPassword"]
    template = spec.get("SecretStringTemplate")
    if template is None:
        return password
    value = json.loads(template)
    value[spec["GenerateStringKey"]] = password
    return json.dumps(value)


class FakeCfnSecret(CloudFormationModel):
    __module__ = "moto.secretsmanager.models"

    def __init__(self, arn):
        self.arn = arn

    @property
    def physical_resource_id(self):
        return self.arn

    @staticmethod
    def cloudformation_name_type():
        return "Name"

    @staticmethod
    def cloudformation_type():
        return "AWS::SecretsManager::Secret"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        backend = sm_models.secretsmanager_backends[account_id][region_name]
        value = properties.get("SecretString")
        if value is None and "GenerateSecretString" in properties:
            value = generated_secret_string(backend, properties["GenerateSecretString"])
        created = backend.create_secret(
            name=properties.get("Name", resource_name),
            secret_string=value,
            secret_binary=None,
            description=properties.get("Description"),
            tags=properties.get("Tags"),
            kms_key_id=properties.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        return cls(json.loads(created)["ARN"] if isinstance(created, str) else created["ARN"])

    def delete(self, account_id, region_name):
        backend = sm_models.secretsmanager_backends[account_id][region_name]
        backend.delete_secret(self.arn, recovery_window_in_days=None, force_delete_without_recovery=True)


# Named gap 21: the RDS-managed master secret.
_db_create = rds_models.DBInstance.create_from_cloudformation_json.__func__


def db_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    database = _db_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    properties = cloudformation_json["Properties"]
    managed = str(properties.get("ManageMasterUserPassword", False)).lower() == "true"
    if managed and getattr(database, "master_user_secret", None) is None:
        database.manage_master_user_password = True
        secret = rds_models.MasterUserSecret(database, (properties.get("MasterUserSecret") or {}).get("KmsKeyId"))
        backend = secret.secretsmanager
        value = generated_secret_string(backend, {
            "SecretStringTemplate": json.dumps({"username": properties.get("MasterUsername", "admin")}),
            "GenerateStringKey": "password",
            "ExcludeCharacters": "\"@/\\'",
        })
        backend.put_secret_value(secret_id=secret.secret.arn, secret_string=value, secret_binary=None, client_request_token=None, version_stages=["AWSCURRENT"])
        database.master_user_secret = secret
    return database


rds_models.DBInstance.create_from_cloudformation_json = classmethod(db_create)


# Named gap 22: every property of a task definition.
def api_volume(volume):
    """A task definition volume as the ECS API names its keys (CloudFormation's differ)."""
    out = {"name": volume["Name"]}
    if "Host" in volume:
        out["host"] = {"sourcePath": volume["Host"].get("SourcePath")}
    efs = volume.get("EFSVolumeConfiguration")
    if efs:
        config = {
            "fileSystemId": efs["FilesystemId"],
            "rootDirectory": efs.get("RootDirectory"),
            "transitEncryption": efs.get("TransitEncryption"),
            "transitEncryptionPort": efs.get("TransitEncryptionPort"),
        }
        auth = efs.get("AuthorizationConfig")
        if auth:
            config["authorizationConfig"] = {k: v for k, v in {"accessPointId": auth.get("AccessPointId"), "iam": auth.get("IAM")}.items() if v is not None}
        out["efsVolumeConfiguration"] = {k: v for k, v in config.items() if v is not None}
    return out


def task_definition_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json["Properties"]
    family = properties.get("Family", resource_name)
    backend = ecs_models.ecs_backends[account_id][region_name]
    return backend.register_task_definition(
        family=family,
        container_definitions=ecs_models.remap_nested_keys(properties.get("ContainerDefinitions", []), ecs_models.pascal_to_camelcase),
        volumes=[api_volume(v) for v in properties.get("Volumes", [])],
        network_mode=properties.get("NetworkMode"),
        requires_compatibilities=properties.get("RequiresCompatibilities"),
        cpu=properties.get("Cpu"),
        memory=properties.get("Memory"),
        task_role_arn=properties.get("TaskRoleArn"),
        execution_role_arn=properties.get("ExecutionRoleArn"),
    )


ecs_models.TaskDefinition.create_from_cloudformation_json = classmethod(task_definition_create)
_service_update = ecs_models.Service.update_from_cloudformation_json.__func__


def service_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    properties = cloudformation_json["Properties"]
    if isinstance(properties.get("TaskDefinition"), ecs_models.TaskDefinition):
        properties = dict(properties, TaskDefinition=properties["TaskDefinition"].arn)
        cloudformation_json = dict(cloudformation_json, Properties=properties)
    return _service_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)


ecs_models.Service.update_from_cloudformation_json = classmethod(service_update)


# Named gap 23: a service's load balancers and scheduling strategy.
def service_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json["Properties"]
    cluster = properties["Cluster"]
    cluster = cluster.name if isinstance(cluster, ecs_models.Cluster) else cluster
    task_definition = properties["TaskDefinition"]
    if isinstance(task_definition, ecs_models.TaskDefinition):
        task_definition = task_definition.arn
    load_balancers = [
        {k: v for k, v in {
            "targetGroupArn": lb.get("TargetGroupArn"),
            "loadBalancerName": lb.get("LoadBalancerName"),
            "containerName": lb.get("ContainerName"),
            "containerPort": int(lb["ContainerPort"]) if lb.get("ContainerPort") is not None else None,
        }.items() if v is not None}
        for lb in properties.get("LoadBalancers", [])
    ]
    backend = ecs_models.ecs_backends[account_id][region_name]
    return backend.create_service(
        cluster,
        resource_name,
        int(properties["DesiredCount"]) if properties.get("DesiredCount") is not None else None,
        task_definition_str=task_definition,
        load_balancers=load_balancers,
        scheduling_strategy=properties.get("SchedulingStrategy"),
    )


ecs_models.Service.create_from_cloudformation_json = classmethod(service_create)
cfn.ChangeSet.diff = diff_with_replacement

DELAY = float(os.environ.get("IDEALSTACK_MOTO_DELAY", "0.3"))
FAIL_FILE = os.environ.get("IDEALSTACK_MOTO_FAIL_FILE")
DELAY_FILE = os.environ.get("IDEALSTACK_MOTO_DELAY_FILE")


def delay_for(stack_name):
    if DELAY_FILE and os.path.exists(DELAY_FILE):
        with open(DELAY_FILE) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[0] == stack_name:
                    return float(parts[1])
    return DELAY


def resource_event(stack, logical_id, resource_type, status, reason=None):
    event = Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id="",
        resource_type=resource_type,
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=None,
    )
    stack.events.append(event)


def injected_failure(stack_name):
    """(logical id, reason, whether the rollback deletes what the create made) or None."""
    if not FAIL_FILE or not os.path.exists(FAIL_FILE):
        return None
    with open(FAIL_FILE) as f:
        for line in f:
            late = line.startswith("rollback-deletes ")
            if late:
                line = line[len("rollback-deletes "):]
            parts = line.strip().split(" ", 2)
            if len(parts) == 3 and parts[0] == stack_name:
                return parts[1], parts[2], late
    return None


def delete_resources(stack, verb):
    """Deletes the stack's resources; True when all went. Named gap 17: those that cannot be
    deleted get a DELETE_FAILED event with the reason and stay."""
    try:
        stack.resource_map.delete()
        return True
    except Exception as e:  # noqa: BLE001 - moto raises the last resource's error
        parsed = stack.resource_map._parsed_resources
        json_map = stack.resource_map._resource_json_map
        for logical_id in list(parsed):
            if logical_id in json_map and json_map[logical_id].get("DeletionPolicy") != "Retain":
                resource_event(stack, logical_id, json_map[logical_id]["Type"], "DELETE_FAILED", str(getattr(e, "message", e)))
        return False


_backend_delete_stack = cfn.CloudFormationBackend.delete_stack


def delete_stack(self, name_or_stack_id):
    """Named gap 17: a stack whose resources cannot all be deleted stays, in DELETE_FAILED."""
    stack = self.stacks.get(name_or_stack_id)
    if stack is None:
        stack = next((s for s in self.stacks.values() if s.name == name_or_stack_id), None)
    if stack is None:
        return _backend_delete_stack(self, name_or_stack_id)
    stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
    if delete_resources(stack, "DELETE"):
        stack.resource_map._resource_json_map = {}
        stack.status = "DELETE_COMPLETE"
        stack._add_stack_event("DELETE_COMPLETE")
        self.stacks.pop(stack.stack_id, None)
        self.deleted_stacks[stack.stack_id] = stack
    else:
        stack.status = "DELETE_FAILED"
        stack._add_stack_event("DELETE_FAILED", resource_status_reason="The following resource(s) failed to delete")


cfn.CloudFormationBackend.delete_stack = delete_stack


def as_list(value):
    return value if isinstance(value, list) else [value]


def policy_denial(stack, change_set):
    """Named gap 15: the first change a Deny statement of the stack policy forbids."""
    policy = getattr(stack, "policy", None)
    if not policy:
        return None
    statements = json.loads(policy).get("Statement", [])
    for change in change_set.changes:
        if change.action == "Remove":
            action = "Update:Delete"
        elif change.action == "Modify":
            action = "Update:Replace" if getattr(change, "replacement", None) == "True" else "Update:Modify"
        else:
            continue
        resource = "LogicalResourceId/" + change.logical_resource_id
        for n, statement in enumerate(statements):
            if statement.get("Effect") != "Deny":
                continue
            actions = as_list(statement.get("Action", []))
            resources = as_list(statement.get("Resource", []))
            if (action in actions or "Update:*" in actions) and (resource in resources or "*" in resources):
                reason = f"Action denied by stack policy: Statement [#{n}] does not allow [{action}] for resource [{resource}]"
                return change.logical_resource_id, change.resource_type, reason
    return None


def run_change_set(change_set):
    stack = change_set.stack
    kind = change_set.change_set_type  # CREATE or UPDATE
    time.sleep(delay_for(stack.name))
    try:
        failure = injected_failure(stack.name)
        verb = "CREATE" if kind == "CREATE" else "UPDATE"
        for change in change_set.changes:
            action = {"Add": "CREATE", "Remove": "DELETE"}.get(change.action, "UPDATE")
            resource_event(stack, change.logical_resource_id, change.resource_type, action + "_IN_PROGRESS")
        if failure:
            logical_id, reason, late = failure
            if late and kind == "CREATE":
                # Named gap 18: the other resources exist when the failing one fails.
                change_set.apply()
            # The failing resource's type comes from the template: the resource need not be among
            # the change set's changes (a real failure can hit any resource the update touches).
            resource_type = "AWS::CloudFormation::CustomResource"
            try:
                body = change_set.template if isinstance(change_set.template, dict) else json.loads(change_set.template)
                resource_type = body["Resources"][logical_id]["Type"]
            except Exception:  # noqa: BLE001 - a YAML or odd template keeps the placeholder type
                types = {c.logical_resource_id: c.resource_type for c in change_set.changes}
                resource_type = types.get(logical_id, resource_type)
            resource_event(stack, logical_id, resource_type, verb + "_FAILED", reason)
            raise RuntimeError(f"injected: {logical_id}: {reason}")
        denied = policy_denial(stack, change_set)
        if denied:
            logical_id, resource_type, reason = denied
            resource_event(stack, logical_id, resource_type, verb + "_FAILED", reason)
            raise RuntimeError(f"{logical_id}: {reason}")
        change_set.apply()
        if kind == "UPDATE":
            stack.parameters = dict(change_set.parameters)
        stack.template = change_set.template
        stack._parse_template()
        stack.output_map = stack._create_output_map()
        for change in change_set.changes:
            action = {"Add": "CREATE", "Remove": "DELETE"}.get(change.action, "UPDATE")
            resource_event(stack, change.logical_resource_id, change.resource_type, action + "_COMPLETE")
        stack.status = kind + "_COMPLETE"
        stack._add_stack_event(kind + "_COMPLETE")
        change_set.execution_status = "EXECUTE_COMPLETE"
    except Exception as e:  # noqa: BLE001 - any failure while applying is a rollback
        if kind == "CREATE":
            stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason="The following resource(s) failed to create: " + str(e))
            # Named gap 18: what the create made is deleted; what cannot be stays.
            if delete_resources(stack, "DELETE"):
                stack._add_stack_event("ROLLBACK_COMPLETE")
                stack.status = "ROLLBACK_COMPLETE"
            else:
                stack._add_stack_event("ROLLBACK_FAILED")
                stack.status = "ROLLBACK_FAILED"
        else:
            stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason="The following resource(s) failed to update: " + str(e))
            stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
            stack.status = "UPDATE_ROLLBACK_COMPLETE"
        change_set.execution_status = "EXECUTE_FAILED"


def execute_change_set(self, change_set_name, stack_name=None):
    change_set = self.change_sets.get(change_set_name)
    if change_set is None:
        for cs in self.change_sets.values():
            if cs.change_set_name == change_set_name and (stack_name is None or cs.stack_name == stack_name or cs.stack_id == stack_name):
                change_set = cs
    if change_set is None:
        raise cfn.ValidationError(stack_name)
    stack = self.stacks[change_set.stack_id]
    kind = change_set.change_set_type
    stack.status = kind + "_IN_PROGRESS"
    stack._add_stack_event(kind + "_IN_PROGRESS", resource_status_reason="User Initiated")
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    threading.Thread(target=run_change_set, args=(change_set,), daemon=True).start()


cfn.CloudFormationBackend.execute_change_set = execute_change_set

app = DomainDispatcherApplication(create_backend_app)

if __name__ == "__main__":
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True, request_handler=MotoRequestHandler)
