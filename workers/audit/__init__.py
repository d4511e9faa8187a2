"""The full-process-record completeness audit: which enforcement steps have the footage their
rules require, and why each one that does not fails (coverage.py and evaluate.py are pure;
source.py reads the database, run.py runs and stores an audit, reports/ writes it out)."""
