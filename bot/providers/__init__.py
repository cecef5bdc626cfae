"""Adapters between upstream families and the job engine (submit, poll, map states)."""
