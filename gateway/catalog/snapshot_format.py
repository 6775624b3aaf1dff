"""The layout of a compiled snapshot's JSON form, written out for readers of the code."""

SNAPSHOT_FORMAT = """
{
  "schema_version": 1,
  "digest": "<sha256 hex of the canonical JSON of every other key>",
  "settings": {"system_prompt": str|null, "currency": "USD",
               "connect_timeout_s": 5, "first_byte_timeout_s": 60, "total_timeout_s": 300,
               "retry_budget": 2, "max_request_bytes": 8388608,
               "breaker": {"failure_threshold": 5, "cooldown_s": 30, "max_cooldown_s": 300},
               "env_prefixes": [str], "internal_tasks": {task: model},
               "server": {"header_timeout_s", "body_timeout_s", "keepalive_timeout_s",
                          "max_connections", "shutdown_deadline_s"}
                          (only when the Settings document has a `server` block)},
  "providers": {name: {"name", "protocol", "base_url": str|null, "auth": {"type", ...${ENV} refs},
                       "data_destination": str, "headers": {}}},
  "capabilities": {name: {"name", "description", "applies_to": [type]}},
  "native_tools": {name: {"name", "description", "applies_to", "spellings": {protocol: {}},
                          "price_per_call": "0.01"|null, "currency": "USD"}},
  "models": [ {"name", "display_name", "vendor", "description", "docs_url", "type", "status",
               "visibility", "owner": {"type", "code", "name"?}, "order", "aliases": [], "tags": [],
               "properties": {}, "capabilities": [], "native_tools": [],
               "system_prompt": str|null,
               "channels": [channel names in static routing order]} ]   # display order
  "channels": {name: {"name", "model", "provider", "protocol", "upstream_model", "priority",
                      "weight", "status", "data_destination", "owner": {}|null, "options": {},
                      "price": {"currency", "unit", amounts as decimal strings}|null,
                      "price_source": "inline"|"book:NAME"|null}},
  "aliases": {alias: model name},
  "consumers": [ {"name", "status", "key_sha256": [hex], "owner": {}|null, "orgs": [],
                  "scopes": [], "max_data_destination", "models": [names]|null,
                  "quota": QUOTA (only when set)} ],
  "orgs": {name: {"name", "description", "quota": QUOTA|null}}   # only with Org documents
}
QUOTA = {"requests_per_minute": int, "tokens_per_minute": int, "concurrent_requests": int,
         "budget_per_day": "5.00", "budget_per_month": "100", (each only when set)
         "models": {model name: {the same limits}} (only when set)}

"""
