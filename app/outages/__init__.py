"""Declared provider outages: the runbook's mitigation applied and undone as one change."""
