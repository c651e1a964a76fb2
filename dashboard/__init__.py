"""Organiser-facing HTTP: the JSON API now, web pages later."""
