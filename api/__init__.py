"""The REST side: one route table per resource, handlers as plain functions that
validate input, call a domain or db function, and shape the answer."""
