"""The campaign domain: plan, roster, binding, check-ins, participation.

Imports neither flask nor wechatpy; every function that depends on the time takes `now`.
"""
