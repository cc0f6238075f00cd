"""JSON Schemas of the wire (SPEC.md), for `/api/openapi.json`.

Request schemas say exactly what the handlers accept (a request the schema
allows is not refused as bad input, one it forbids is), and response schemas
exactly what they answer: every field required, no other field
(`additionalProperties: false`), times in the one wire format of §2. Shapes
used by several endpoints are components (`ref("Name")`); `COMPONENTS` holds
them for the document.
"""

from __future__ import annotations

from typing import Any

from domain.attendance import MAX_TITLE_LENGTH, STATUSES
from domain.credits import MAX_CREDITS, STREAM_STATUSES
from domain.ids import MAX_ID_LENGTH

Schema = dict[str, Any]

COMPONENTS: dict[str, Schema] = {}


def ref(name: str) -> Schema:
    if name not in COMPONENTS:
        raise KeyError(f"no component schema {name}")
    return {"$ref": f"#/components/schemas/{name}"}


def component(name: str, schema: Schema) -> Schema:
    """Registers `schema` as `#/components/schemas/<name>` and returns a reference to it."""
    COMPONENTS[name] = schema
    return ref(name)


def obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = (), **extra: Any) -> Schema:
    """A closed object: every property required except `optional`, nothing else allowed."""
    return {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


# ---------------------------------------------------------------- scalars
TIME: Schema = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
    "description": "ISO 8601 UTC, milliseconds: 2026-11-23T09:30:00.000Z",
}
TIME_OR_NULL = nullable(TIME)
TIME_IN: Schema = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^(?:19[7-9][0-9]|[2-9][0-9]{3})-",
    "description": "ISO 8601 (`Z` or an offset), from 1970 to 9999 UTC",
}
"""A time in a request (`domain.activity.parse_iso`)."""
DAY: Schema = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
COUNT: Schema = {"type": "integer", "minimum": 0}
CREDITS: Schema = {"type": "integer", "minimum": 0, "maximum": MAX_CREDITS}
STRING: Schema = {"type": "string"}
STRING_OR_NULL = nullable(STRING)

ID: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}
"""An identifier as answered (user, conversation, session, meeting, stream)."""

NO_NUL = r"^[^\x00]*$"
"""No request text holds NUL (`api.validation.NUL`)."""
NON_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"
"""Required strings also hold something other than whitespace."""


def text(max_length: int = MAX_ID_LENGTH, *, required: bool = True) -> Schema:
    """A request string: required ones non-empty and not only whitespace (as
    `api.validation.required_str` checks), each at most `max_length` characters, no NUL."""
    if required:
        return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": NON_BLANK}
    return {"type": "string", "maxLength": max_length, "pattern": NO_NUL}


PATH_ID: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": NO_NUL}
"""A path segment id, or an id in a query or a list (`api.validation.path_id`)."""


def page_query(default: int, maximum: int, minimum: int = 1) -> dict[str, dict[str, Any]]:
    """`?limit=&offset=` as `api.validation.query_int` reads them."""
    return {
        "limit": {
            "schema": {"type": "integer", "minimum": minimum, "maximum": maximum, "default": default},
            "description": f"at most {maximum}; default {default}",
        },
        "offset": {"schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 0}},
    }


# ---------------------------------------------------------------- errors (§2)
ERROR = component(
    "Error",
    obj(
        {
            "error": {"type": "string", "minLength": 1, "description": "a human sentence"},
            "details": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "400: the field (or `body`) and why",
            },
        },
        optional=("details",),
    ),
)
RATE_LIMITED = component(
    "RateLimited",
    obj(
        {
            "error": {"type": "string", "minLength": 1},
            "retry_after": {"type": "number", "minimum": 0, "description": "seconds (the header rounds up)"},
        }
    ),
)
SESSION_ENDED = component(
    "SessionEnded",
    obj({"error": {"type": "string", "minLength": 1}, "status": {"enum": ["completed", "timeout"]}}),
)
STREAM_NOT_LIVE = component(
    "StreamNotLive",
    obj(
        {
            "error": {"const": "Livestream is not currently live"},
            "reason": STRING,
            "status": {"enum": list(STREAM_STATUSES)},
        }
    ),
)
STREAM_CONFLICT = component(
    "LivestreamConflict",
    obj(
        {
            "error": {"type": "string", "minLength": 1},
            "status": {"enum": list(STREAM_STATUSES)},
            "reason": STRING_OR_NULL,
        },
        optional=("reason",),
        description="start or end in the wrong state; `reason` how an ended stream ended",
    ),
)

# ---------------------------------------------------------------- §3 widget presence
CONVERSATION = component(
    "Conversation",
    obj(
        {
            "id": ID,
            "companyId": ID,
            "platform": {"enum": ["WIDGET", "FACEBOOK", "INSTAGRAM"]},
            "sessionId": ID,
            "customerName": STRING_OR_NULL,
            "createdAt": TIME,
            "updatedAt": TIME,
        }
    ),
)
SNAPSHOT = component(
    "PresenceSnapshot",
    obj(
        {
            "conversationId": ID,
            "customerName": STRING_OR_NULL,
            "supported": {"type": "boolean", "description": "false: not a WIDGET conversation (no presence)"},
            "isOnline": {"type": "boolean"},
            "lastHeartbeat": TIME_OR_NULL,
            "lastSeen": TIME_OR_NULL,
            "onlineSince": TIME_OR_NULL,
            "devices": COUNT,
            "away": {"type": "boolean"},
            "socketsInRoom": COUNT,
        }
    ),
)
PRESENCE_BATCH = obj(
    {
        "presence": {"type": "object", "additionalProperties": SNAPSHOT},
        "missing": {"type": "array", "items": STRING, "description": "unknown ids and those the caller may not see"},
    }
)

# ---------------------------------------------------------------- §4 app users
USER_STATE = obj({"status": {"enum": ["online", "offline"]}, "last_seen": TIME_OR_NULL})
ONLINE_STATUS = obj(
    {
        "user_id": ID,
        "is_online": {"type": "boolean"},
        "online_status": {"enum": ["online", "offline"]},
        "last_seen": TIME_OR_NULL,
    }
)
ONLINE_USER = component("OnlineUser", obj({"user_id": ID, "name": STRING_OR_NULL, "last_seen": TIME_OR_NULL}))


def page_of(item: Schema) -> Schema:
    """`{"count", "results": [...]}`: `count` is every match, `results` this page."""
    return obj({"count": COUNT, "results": {"type": "array", "items": item}})


# ---------------------------------------------------------------- §5 activity
EVENTS_ANSWER = obj(
    {
        "accepted": COUNT,
        "rejected": {
            "type": "array",
            "items": obj({"index": COUNT, "error": {"type": "string", "minLength": 1}}),
        },
    }
)
METRICS = obj(
    {
        "dau": COUNT,
        "wau": COUNT,
        "mau": COUNT,
        "stickiness": {"type": "number", "minimum": 0},
        "total_users": COUNT,
        "never_active": COUNT,
        "as_of": TIME,
        "daily": {
            "type": "array",
            "minItems": 30,
            "maxItems": 30,
            "items": obj({"date": DAY, "active": COUNT}),
            "description": "?detailed=1 only: 30 UTC days ending today, oldest first",
        },
    },
    optional=("daily",),
)

# ---------------------------------------------------------------- §6 attendance
MEETING = component(
    "Meeting",
    obj(
        {
            "id": ID,
            "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE_LENGTH},
            "zoomUrl": STRING,
            "teacherId": ID,
            "teacherName": STRING_OR_NULL,
            "startsAt": TIME_OR_NULL,
            "createdAt": TIME,
            "updatedAt": TIME,
        }
    ),
)
LINK = obj({"url": {"type": "string", "format": "uri"}, "expiresAt": TIME})
SESSION_ROW = component(
    "SessionRow",
    obj(
        {
            "id": ID,
            "meetingId": ID,
            "meetingTitle": STRING,
            "studentId": ID,
            "studentName": STRING_OR_NULL,
            "teacherId": ID,
            "teacherName": STRING_OR_NULL,
            "clickedAt": TIME,
            "lastActivityAt": TIME,
            "sessionEndedAt": TIME_OR_NULL,
            "status": {"enum": list(STATUSES)},
            "durationMinutes": nullable(COUNT),
        }
    ),
)
SESSION_HEARTBEAT = obj(
    {"status": {"const": "active"}, "lastActivityAt": TIME, "elapsedMinutes": COUNT},
)
SUMMARY = obj(
    {
        "from": DAY,
        "to": DAY,
        "teachers": {
            "type": "array",
            "items": obj({"teacherId": ID, "teacherName": STRING_OR_NULL, "sessions": COUNT, "minutes": COUNT}),
        },
        "meetings": {
            "type": "array",
            "items": obj({"meetingId": ID, "meetingTitle": STRING, "sessions": COUNT, "minutes": COUNT}),
        },
    }
)
ENDED = obj({"ended": COUNT})
HEALTH = obj(
    {
        "status": {"enum": ["ok", "degraded"]},
        "database": {"enum": ["ok", "error"]},
        "redis": {"enum": ["ok", "error", "disabled"]},
        "jobs": {
            "type": "object",
            "additionalProperties": obj({"last_run": TIME_OR_NULL, "last_result": {}}),
        },
    }
)

# ---------------------------------------------------------------- §7 livestream credits
_STREAM_FIELDS: dict[str, Schema] = {
    "id": ID,
    "title": STRING,
    "status": {"enum": list(STREAM_STATUSES)},
    "started_at": TIME_OR_NULL,
    "ended_at": TIME_OR_NULL,
    "end_reason": STRING_OR_NULL,
    "credits_consumed": COUNT,
    "last_activity": TIME_OR_NULL,
}
STREAM = component("Livestream", obj(_STREAM_FIELDS))
MINUTES_TO_NEXT = nullable({"type": "number", "minimum": 0})
ADMIN_STREAM = component(
    "AdminLivestream",
    obj(
        {
            **_STREAM_FIELDS,
            "user_id": ID,
            "remaining_credits": CREDITS,
            "time_until_next_deduction_minutes": MINUTES_TO_NEXT,
            "next_block_at": TIME_OR_NULL,
        }
    ),
)
GRANTED = obj({"user_id": ID, "remaining_credits": CREDITS})
BALANCE = obj({"remaining_credits": CREDITS, "low_credits": {"type": "boolean"}})
STREAM_HEARTBEAT = obj(
    {
        "message": {"const": "Heartbeat recorded successfully"},
        "last_activity": TIME_OR_NULL,
        "remaining_credits": CREDITS,
        "credits_consumed": COUNT,
        "low_credits": {"type": "boolean"},
    }
)
CREDITS_CHECKED = obj(
    {
        "message": {"const": "Credits checked successfully"},
        "livestream_ended": {"type": "boolean"},
        "remaining_credits": CREDITS,
        "credits_consumed": COUNT,
        "time_until_next_deduction_minutes": MINUTES_TO_NEXT,
        "low_credits": {"type": "boolean"},
    }
)
STATEMENT = obj(
    {
        "livestream_id": ID,
        "charges": {
            "type": "array",
            "items": obj({"block": COUNT, "credits": {"const": 1}, "charged_at": TIME, "block_starts_at": TIME}),
        },
        "credits_consumed": COUNT,
    }
)

# ---------------------------------------------------------------- §9 overview
OVERVIEW = obj(
    {
        "as_of": TIME,
        "customers": obj(
            {
                "online": COUNT,
                "recent": {
                    "type": "array",
                    "items": obj(
                        {
                            "conversationId": ID,
                            "customerName": STRING_OR_NULL,
                            "companyId": ID,
                            "onlineSince": TIME_OR_NULL,
                        }
                    ),
                },
            }
        ),
        "users": obj({"online": COUNT, "recent": {"type": "array", "items": ONLINE_USER}}),
        "sessions": obj(
            {
                "live": COUNT,
                "recent": {
                    "type": "array",
                    "items": obj(
                        {
                            "id": ID,
                            "meetingId": ID,
                            "meetingTitle": STRING,
                            "teacherName": STRING_OR_NULL,
                            "studentId": ID,
                            "studentName": STRING_OR_NULL,
                            "clickedAt": TIME,
                            "lastActivityAt": TIME,
                        }
                    ),
                },
            }
        ),
        "streams": obj(
            {
                "live": COUNT,
                "recent": {
                    "type": "array",
                    "items": obj(
                        {
                            "id": ID,
                            "title": STRING,
                            "user_id": ID,
                            "owner_name": STRING_OR_NULL,
                            "started_at": TIME_OR_NULL,
                            "credits_consumed": COUNT,
                            "remaining_credits": CREDITS,
                        }
                    ),
                },
            }
        ),
    }
)
