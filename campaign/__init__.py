"""The campaign domain and every write it makes: plan, people, access, check-ins,
participation, binding, roster, outbox (docs/architecture.md).

Imports neither flask nor wechatpy; every function that depends on the time takes `now`.
"""
