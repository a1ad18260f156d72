-- Writes one task of the imported table: inserted, or updated in place (review state survives).
INSERT INTO tasks (task_id, year, seq, goal, content, leaders, lead_units, responsible_units,
                   responsible_text, related_pending, content_hash, reviewed_hash, active, import_id,
                   deadline)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, true, ?, ?)
ON CONFLICT (task_id) DO UPDATE SET
    seq = excluded.seq,
    goal = excluded.goal,
    content = excluded.content,
    leaders = excluded.leaders,
    lead_units = excluded.lead_units,
    responsible_units = excluded.responsible_units,
    responsible_text = excluded.responsible_text,
    related_pending = excluded.related_pending,
    content_hash = excluded.content_hash,
    active = true,
    import_id = excluded.import_id,
    deadline = excluded.deadline;
