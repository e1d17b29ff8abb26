"""IAM and STS operations: each calls one service method and renders its output shape.

Input arrives parsed and validated against botocore's model (``protocol.py``); output is a dict
in the model's output shape. Policy documents go out URL-encoded, as IAM sends them (botocore
decodes every ``policyDocumentType`` member).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from packyard.api.pagination import IAM_MARKER_MAX, page
from packyard.auth.principal import Principal
from packyard.errors import Invalid
from packyard.iam.errors import InvalidInput, StsValidationError
from packyard.iam.records import AccessKey, ManagedPolicy, Role, User
from packyard.services.iam import IamService, RootUser
from packyard.services.sts import StsService


@dataclass(frozen=True)
class IamServices:
    iam: IamService
    sts: StsService


Handler = Callable[[IamServices, Principal, dict[str, Any]], dict[str, Any]]
HANDLERS: dict[tuple[str, str], Handler] = {}


def operation(service: str, name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[(service, name)] = fn
        return fn
    return register


def supported(service: str) -> frozenset[str]:
    return frozenset(name for svc, name in HANDLERS if svc == service)


def call(service: str, name: str, services: IamServices, principal: Principal,
         params: dict[str, Any]) -> dict[str, Any]:
    return HANDLERS[(service, name)](services, principal, params)


# -- shapes --------------------------------------------------------------------------------------

def _document(text: str) -> str:
    return quote(text, safe="")


def _user(user: User) -> dict[str, Any]:
    return {"Path": user.path, "UserName": user.name, "UserId": user.id, "Arn": user.arn,
            "CreateDate": user.created_at}


def _key(key: AccessKey) -> dict[str, Any]:
    return {"UserName": key.user_name, "AccessKeyId": key.id, "Status": key.status,
            "CreateDate": key.created_at}


def _role(role: Role, *, with_trust: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"Path": role.path, "RoleName": role.name, "RoleId": role.id,
                           "Arn": role.arn, "CreateDate": role.created_at,
                           "Description": role.description,
                           "MaxSessionDuration": role.max_session_duration}
    if with_trust:
        out["AssumeRolePolicyDocument"] = _document(role.assume_role_policy)
    return out


def _policy(policy: ManagedPolicy) -> dict[str, Any]:
    return {"PolicyName": policy.name, "PolicyId": policy.id, "Arn": policy.arn,
            "Path": policy.path, "DefaultVersionId": policy.default_version_id,
            "AttachmentCount": policy.attachment_count, "PermissionsBoundaryUsageCount": 0,
            "IsAttachable": True, "Description": policy.description,
            "CreateDate": policy.created_at, "UpdateDate": policy.updated_at}


def _attached(policies: Sequence[ManagedPolicy]) -> list[dict[str, Any]]:
    return [{"PolicyName": p.name, "PolicyArn": p.arn} for p in policies]


SortKey = tuple[str, ...]


def _page(items: Sequence[Any], p: dict[str, Any], key: str, render: Callable[[Any], Any],
          order: Callable[[Any], SortKey]) -> dict[str, Any]:
    """IAM's Marker/MaxItems pagination over a full list, in ``order`` (``api/pagination.py``,
    as CodeArtifact's lists).

    The Marker names the last item returned (its sort key), not a position, so a clean-up that
    deletes what each page lists (a boto3 paginator fetches the next page after the loop body
    ran) neither skips nor repeats an item, as with IAM's own markers. It fits IAM's model (320
    characters) however long the names and paths.
    """
    try:
        chunk, marker = page(items, p, key, lambda item: list(order(item)),
                             token_key="Marker", size_key="MaxItems", token_max=IAM_MARKER_MAX)
    except Invalid:
        raise InvalidInput("Invalid Marker: pass the Marker of a previous response") from None
    out: dict[str, Any] = {key: [render(i) for i in chunk], "IsTruncated": marker is not None}
    if marker is not None:
        out["Marker"] = marker
    return out


def _by_name(item: User | Role) -> SortKey:
    return (item.name.lower(),)


def _by_text(name: str) -> SortKey:
    return (name.lower(),)


def _by_group(group: dict[str, Any]) -> SortKey:
    return (str(group["GroupName"]).lower(),)


def _by_creation(key: AccessKey) -> SortKey:
    return (key.created_at.isoformat(), key.id)


def _by_policy(policy: ManagedPolicy) -> SortKey:
    # AWS managed policies first, as ListPolicies has always listed them.
    return ("0" if policy.is_aws_managed else "1", policy.name.lower())


def _by_arn(attached: dict[str, Any]) -> SortKey:
    return (attached["PolicyArn"],)


def _refuse_unsupported(p: dict[str, Any], *names: str,
                        error: type[Invalid] = InvalidInput) -> None:
    # Ignoring a permissions boundary would grant more than asked; tags would silently vanish.
    for name in names:
        if p.get(name):
            raise error(f"{name} is not supported by Packyard")


# -- users ---------------------------------------------------------------------------------------

@operation("iam", "CreateUser")
def _create_user(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    _refuse_unsupported(p, "PermissionsBoundary", "Tags")
    return {"User": _user(s.iam.create_user(who, p["UserName"], p.get("Path")))}


@operation("iam", "GetUser")
def _get_user(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    found = s.iam.get_user(who, p.get("UserName"))
    if isinstance(found, RootUser):
        # The root user, as IAM shows it: no name or path, the account id as its UserId, the
        # account's creation as its CreateDate (botocore's User shape requires it).
        return {"User": {"UserId": found.user_id, "Arn": found.arn,
                         "CreateDate": found.created_at}}
    return {"User": _user(found)}


@operation("iam", "ListUsers")
def _list_users(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    return _page(s.iam.list_users(who, p.get("PathPrefix")), p, "Users", _user, _by_name)


@operation("iam", "ListGroupsForUser")
def _list_groups_for_user(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    groups = s.iam.list_groups_for_user(who, p["UserName"])
    return _page(groups, p, "Groups", dict, _by_group)


@operation("iam", "ListGroups")
def _list_groups(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    return _page(s.iam.list_groups(who), p, "Groups", dict, _by_group)


@operation("iam", "DeleteUser")
def _delete_user(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    s.iam.delete_user(who, p["UserName"])
    return {}


# -- access keys ---------------------------------------------------------------------------------

@operation("iam", "CreateAccessKey")
def _create_access_key(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    key, secret = s.iam.create_access_key(who, p.get("UserName"))
    return {"AccessKey": {**_key(key), "SecretAccessKey": secret}}


@operation("iam", "ListAccessKeys")
def _list_access_keys(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    return _page(s.iam.list_access_keys(who, p.get("UserName")), p, "AccessKeyMetadata", _key,
                 _by_creation)


@operation("iam", "UpdateAccessKey")
def _update_access_key(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    s.iam.update_access_key(who, p.get("UserName"), p["AccessKeyId"], p["Status"])
    return {}


@operation("iam", "DeleteAccessKey")
def _delete_access_key(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    s.iam.delete_access_key(who, p.get("UserName"), p["AccessKeyId"])
    return {}


# -- inline policies -----------------------------------------------------------------------------

@operation("iam", "PutUserPolicy")
def _put_user_policy(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    s.iam.put_user_policy(who, p["UserName"], p["PolicyName"], p["PolicyDocument"])
    return {}


@operation("iam", "GetUserPolicy")
def _get_user_policy(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    user, policy = s.iam.get_user_policy(who, p["UserName"], p["PolicyName"])
    return {"UserName": user.name, "PolicyName": policy.name,
            "PolicyDocument": _document(policy.document)}


@operation("iam", "ListUserPolicies")
def _list_user_policies(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    return _page(s.iam.list_user_policies(who, p["UserName"]), p, "PolicyNames", str,
                 _by_text)


@operation("iam", "DeleteUserPolicy")
def _delete_user_policy(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    s.iam.delete_user_policy(who, p["UserName"], p["PolicyName"])
    return {}


@operation("iam", "PutRolePolicy")
def _put_role_policy(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    s.iam.put_role_policy(who, p["RoleName"], p["PolicyName"], p["PolicyDocument"])
    return {}


@operation("iam", "GetRolePolicy")
def _get_role_policy(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    role, policy = s.iam.get_role_policy(who, p["RoleName"], p["PolicyName"])
    return {"RoleName": role.name, "PolicyName": policy.name,
            "PolicyDocument": _document(policy.document)}


@operation("iam", "ListRolePolicies")
def _list_role_policies(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    return _page(s.iam.list_role_policies(who, p["RoleName"]), p, "PolicyNames", str,
                 _by_text)


@operation("iam", "DeleteRolePolicy")
def _delete_role_policy(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    s.iam.delete_role_policy(who, p["RoleName"], p["PolicyName"])
    return {}


# -- roles ---------------------------------------------------------------------------------------

@operation("iam", "CreateRole")
def _create_role(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    _refuse_unsupported(p, "PermissionsBoundary", "Tags")
    role = s.iam.create_role(who, p["RoleName"], p.get("Path"), p["AssumeRolePolicyDocument"],
                             p.get("Description"), p.get("MaxSessionDuration"))
    return {"Role": _role(role)}


@operation("iam", "GetRole")
def _get_role(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    return {"Role": _role(s.iam.get_role(who, p["RoleName"]))}


@operation("iam", "ListRoles")
def _list_roles(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    return _page(s.iam.list_roles(who, p.get("PathPrefix")), p, "Roles", _role, _by_name)


@operation("iam", "UpdateAssumeRolePolicy")
def _update_assume_role_policy(s: IamServices, who: Principal,
                               p: dict[str, Any]) -> dict[str, Any]:
    s.iam.update_assume_role_policy(who, p["RoleName"], p["PolicyDocument"])
    return {}


@operation("iam", "DeleteRole")
def _delete_role(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    s.iam.delete_role(who, p["RoleName"])
    return {}


# -- managed policies ----------------------------------------------------------------------------

@operation("iam", "CreatePolicy")
def _create_policy(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    _refuse_unsupported(p, "Tags")
    policy = s.iam.create_policy(who, p["PolicyName"], p.get("Path"), p["PolicyDocument"],
                                 p.get("Description"))
    return {"Policy": _policy(policy)}


@operation("iam", "GetPolicy")
def _get_policy(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    return {"Policy": _policy(s.iam.get_policy(who, p["PolicyArn"]))}


@operation("iam", "GetPolicyVersion")
def _get_policy_version(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    policy = s.iam.get_policy_version(who, p["PolicyArn"], p["VersionId"])
    return {"PolicyVersion": {"Document": _document(policy.document),
                              "VersionId": policy.default_version_id, "IsDefaultVersion": True,
                              "CreateDate": policy.created_at}}


@operation("iam", "ListPolicyVersions")
def _list_policy_versions(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    policy = s.iam.list_policy_versions(who, p["PolicyArn"])
    # As IAM lists versions: without their documents (GetPolicyVersion has them).
    version = {"VersionId": policy.default_version_id, "IsDefaultVersion": True,
               "CreateDate": policy.created_at}
    return _page([version], p, "Versions", dict, lambda v: (v["VersionId"],))


@operation("iam", "ListPolicies")
def _list_policies(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    policies = s.iam.list_policies(who, p.get("Scope"), bool(p.get("OnlyAttached")),
                                   p.get("PathPrefix"))
    if p.get("PolicyUsageFilter") == "PermissionsBoundary":
        policies = []  # no policy sets a permissions boundary: Packyard has none
    return _page(policies, p, "Policies", _policy, _by_policy)


@operation("iam", "DeletePolicy")
def _delete_policy(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    s.iam.delete_policy(who, p["PolicyArn"])
    return {}


@operation("iam", "AttachUserPolicy")
def _attach_user_policy(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    s.iam.attach_user_policy(who, p["UserName"], p["PolicyArn"])
    return {}


@operation("iam", "DetachUserPolicy")
def _detach_user_policy(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    s.iam.detach_user_policy(who, p["UserName"], p["PolicyArn"])
    return {}


@operation("iam", "ListAttachedUserPolicies")
def _list_attached_user_policies(s: IamServices, who: Principal,
                                 p: dict[str, Any]) -> dict[str, Any]:
    policies = s.iam.list_attached_user_policies(who, p["UserName"], p.get("PathPrefix"))
    return _page(_attached(policies), p, "AttachedPolicies", dict, _by_arn)


@operation("iam", "AttachRolePolicy")
def _attach_role_policy(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    s.iam.attach_role_policy(who, p["RoleName"], p["PolicyArn"])
    return {}


@operation("iam", "DetachRolePolicy")
def _detach_role_policy(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    s.iam.detach_role_policy(who, p["RoleName"], p["PolicyArn"])
    return {}


@operation("iam", "ListAttachedRolePolicies")
def _list_attached_role_policies(s: IamServices, who: Principal,
                                 p: dict[str, Any]) -> dict[str, Any]:
    policies = s.iam.list_attached_role_policies(who, p["RoleName"], p.get("PathPrefix"))
    return _page(_attached(policies), p, "AttachedPolicies", dict, _by_arn)


# -- STS -----------------------------------------------------------------------------------------

@operation("sts", "GetCallerIdentity")
def _get_caller_identity(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    identity = s.sts.get_caller_identity(who)
    return {"UserId": identity.user_id, "Account": identity.account, "Arn": identity.arn}


@operation("sts", "AssumeRole")
def _assume_role(s: IamServices, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    # SourceIdentity too: AWS sets it only when the trust policy also allows
    # sts:SetSourceIdentity, and conditions on aws:SourceIdentity would not see it.
    _refuse_unsupported(p, "Tags", "TransitiveTagKeys", "SerialNumber", "ProvidedContexts",
                        "SourceIdentity", error=StsValidationError)
    creds = s.sts.assume_role(who, p["RoleArn"], p["RoleSessionName"], p.get("DurationSeconds"),
                              p.get("Policy"), p.get("PolicyArns"), p.get("ExternalId"))
    session = creds.session
    return {"Credentials": {"AccessKeyId": session.access_key_id,
                            "SecretAccessKey": creds.secret_access_key,
                            "SessionToken": creds.session_token,
                            "Expiration": session.expires_at},
            "AssumedRoleUser": {"AssumedRoleId": session.user_id, "Arn": session.arn}}
