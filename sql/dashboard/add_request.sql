-- A unit's request, pending until a supervisor decides it; returns its number.
INSERT INTO requests (unit, period, task_id, kind, new_date, reason, evidence_id, requested_at)
VALUES ($unit, $period, $task_id, $kind, $new_date, $reason, $evidence_id, $requested_at)
RETURNING request_id;
