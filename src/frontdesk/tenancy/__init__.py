"""Tenancy: each organization's agent configuration and the per-number overrides on it."""
