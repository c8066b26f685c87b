"""Requests a refresh costs, counted by the provider sandbox."""
