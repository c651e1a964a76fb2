"""Reminder jobs and their scheduler (issue 4). Jobs are plain functions `job(now) -> count`."""
