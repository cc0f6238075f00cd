"""Identifiers on the wire and in the database (user ids, conversation ids,
session ids, tenant ids) are non-empty strings of at most this many characters."""

MAX_ID_LENGTH = 255
