"""What the OpenAPI document says about each /api/v1 view: parameters, body, answers, links."""

from __future__ import annotations

from typing import Any

from app.openapi_builders import (
    BODY,
    ETAG,
    JSON,
    MERGE_PATCH,
    READ,
    WRITE,
    body,
    links,
    no_content,
    ok,
    op,
)
from app.openapi_components import PAGE_QUERY, VERSION_PAGE_QUERY
from app.schemas.applications import ApplicationListSchema, ApplicationSchema
from app.schemas.audit import AuditListSchema, AuditQuerySchema
from app.schemas.configurations import (
    ConfigurationListSchema,
    ConfigurationPatchSchema,
    ConfigurationReplaceSchema,
    ConfigurationSchema,
)
from app.schemas.versions import DiffQuerySchema, DiffSchema, VersionListSchema, VersionSchema

_APP, _CONF = {"application_id": "$response.body#/id"}, {"configuration_id": "$response.body#/id"}
APPLICATION_LINKS = {
    **links(_APP, "get_application", "replace_application", "patch_application"),
    **links(_APP, "delete_application", "list_configurations"),
    "CreateConfiguration": {"operationId": "create_configuration", "requestBody": _APP},
}
CONFIGURATION_LINKS = {
    **links(_CONF, "get_configuration", "replace_configuration", "patch_configuration"),
    **links(_CONF, "delete_configuration", "list_versions"),
    **links({**_CONF, "version": "$response.body#/version"}, "get_version", "restore_version"),
}
_ONE_CONFIGURATION = {
    "200": ok(ConfigurationSchema, "The configuration.", [*ETAG, "Preference-Applied"]),
    "304": "NotModified",
}
_WATCH = ["If-None-Match", "Prefer"]
_AUDIT_QUERY = {"in": "query", "schema": AuditQuerySchema}

OPERATIONS: dict[str, dict[str, Any]] = {
    "applications.create_application": op(
        {"201": ok(ApplicationSchema, "Created.", ["Location"], links=APPLICATION_LINKS)},
        (*BODY, 409, *WRITE),
        requestBody=body(ApplicationSchema),
    ),
    "applications.list_applications": op(
        {"200": ok(ApplicationListSchema, "A page of applications.")}, (400, *READ), [PAGE_QUERY]
    ),
    "applications.get_application": op({"200": ok(ApplicationSchema, "Found.")}, (404, *READ)),
    "applications.get_application_by_name": op(
        {"200": ok(ApplicationSchema, "Found.")}, (404, *READ)
    ),
    "applications.replace_application": op(
        {"200": ok(ApplicationSchema, "Replaced.")},
        (*BODY, 404, 409, *WRITE),
        requestBody=body(ApplicationSchema),
    ),
    "applications.patch_application": op(
        {"200": ok(ApplicationSchema, "Changed.")},
        (*BODY, 404, 409, *WRITE),
        requestBody=body(ApplicationSchema, JSON, MERGE_PATCH, partial=True),
    ),
    "applications.delete_application": op(
        no_content("Deleted."), (400, 404, 409, *WRITE), ["cascade"]
    ),
    "applications.list_configurations": op(
        {"200": ok(ConfigurationListSchema, "A page of configurations.")},
        (400, 404, *READ),
        [PAGE_QUERY],
    ),
    "configurations.create_configuration": op(
        {
            "201": ok(
                ConfigurationSchema, "Created.", ["Location", *ETAG], links=CONFIGURATION_LINKS
            )
        },
        (*BODY, 409, *WRITE),
        requestBody=body(ConfigurationSchema),
    ),
    "configurations.get_configuration": op(_ONE_CONFIGURATION, (404, *READ), _WATCH),
    "configurations.get_configuration_by_name": op(_ONE_CONFIGURATION, (404, *READ), _WATCH),
    "configurations.replace_configuration": op(
        {"200": ok(ConfigurationSchema, "Replaced.", ETAG)},
        (*BODY, 404, 409, 412, *WRITE),
        ["If-Match"],
        requestBody=body(ConfigurationReplaceSchema),
    ),
    "configurations.patch_configuration": op(
        {"200": ok(ConfigurationSchema, "Changed.", ETAG)},
        (*BODY, 404, 409, 412, *WRITE),
        ["If-Match"],
        requestBody=body(ConfigurationPatchSchema, JSON, MERGE_PATCH),
    ),
    "configurations.delete_configuration": op(
        no_content("Deleted, with its history."), (404, 412, *WRITE), ["If-Match"]
    ),
    "versions.list_versions": op(
        {"200": ok(VersionListSchema, "A page of versions, newest first.")},
        (400, 404, *READ),
        [VERSION_PAGE_QUERY],
    ),
    "versions.get_version": op({"200": ok(VersionSchema, "Found.")}, (404, *READ)),
    "versions.restore_version": op(
        {"200": ok(ConfigurationSchema, "The configuration after the restore.", ETAG)},
        (404, 412, 422, *WRITE),  # 422: the old config does not satisfy the current schema
        ["If-Match"],
    ),
    "versions.diff_versions": op(
        {"200": ok(DiffSchema, "The JSON Patch from this version's config to `to`'s.")},
        (400, 404, *READ),
        [{"in": "query", "schema": DiffQuerySchema}],
    ),
    "audit.list_audit": op(
        {"200": ok(AuditListSchema, "A page of entries, newest first.")},
        (400, *WRITE),
        [_AUDIT_QUERY],
        description="Admin only. The filters match exactly.",
    ),
    "openapi.openapi_document": op(
        {"200": ok({"type": "object"}, "This document.")}, (), security=[]
    ),
    "docs.docs_page": op(
        {"200": ok({"type": "string"}, "Swagger UI (no outside assets).", media_type="text/html")},
        (),
        security=[],
    ),
}
