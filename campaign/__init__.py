"""The campaign domain and every write it makes: plan, people, access, sessions, check-ins,
collective check-ins, evidence and its archive, participation and the overview, binding,
roster, notices, outbox, the assessment and the year-end facts (docs/architecture.md lists each
module and what it owns).

Imports neither flask nor wechatpy; every function that depends on the time takes `now`.
"""
