"""Every HubSpot API path the tap calls, in the configured API version.

`api_version` is a date version (`2026-03`) or `v4`, the legacy associations paths,
which pair with the legacy v3 paths of the other endpoints. This module is the only
place that choice is made.
"""

from __future__ import annotations

from urllib.parse import quote

TOKEN_PATH = "/oauth/v1/token"


def associations_path(api_version: str, from_type: str, to_type: str, tail: str) -> str:
    """A path of the associations API for a pair (`batch/read`, `labels`)."""
    from_part, to_part = _segment(from_type), _segment(to_type)
    if api_version == "v4":
        return f"/crm/v4/associations/{from_part}/{to_part}/{tail}"
    return f"/crm/associations/{api_version}/{from_part}/{to_part}/{tail}"


def objects_path(api_version: str, object_type: str) -> str:
    """The path listing an object type's records."""
    if api_version == "v4":
        return f"/crm/v3/objects/{_segment(object_type)}"
    return f"/crm/objects/{api_version}/{_segment(object_type)}"


def search_path(api_version: str, object_type: str) -> str:
    """The path of CRM search over an object type's records."""
    return objects_path(api_version, object_type) + "/search"


def schemas_path(api_version: str) -> str:
    """The path of the custom object schemas."""
    return f"/crm-object-schemas/{'v3' if api_version == 'v4' else api_version}/schemas"


def _segment(name: str) -> str:
    return quote(name, safe="")
