"""A period judged against the annual targets (DESIGN §5): inputs (what is read) → rules (the
judging expressions) → judgements (metrics, tasks, units) → store (the eval_* tables)."""
