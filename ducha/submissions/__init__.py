"""The month's reports, from template to stored figures.

assignments (who reports what) → templates (each unit's .xlsx) → intake (bytes archived under
their SHA-256) → spreadsheet (read safely) → identify (whose, which month) → layout (the table)
→ rows (each row's task and metric) → checks (the values) → checking (one file) → parallel
(many files; checkers: the children the portal's clerk keeps) → store (one transaction a batch) → ingest (the batches, the inbox emptied: inbox)
→ receipts (the answer to the sender). results holds what checking produces.
"""
