"""The thin HTTP layer: each module translates HTTP to a service call and back."""
