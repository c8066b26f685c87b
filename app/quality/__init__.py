"""Data validation: expectation suites (config/expectations), Great Expectations runs against
PostgreSQL, stored results and per-provider quality scores. Importing this package does not
import Great Expectations; only app.quality.engine does, inside the run."""
