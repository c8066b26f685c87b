"""One collector per provider (FRED, EIA, NOAA, World Bank) and their configuration."""
