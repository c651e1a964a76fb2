"""The WeChat side: webhook, inbound parsing, command handlers, staff-facing texts."""
