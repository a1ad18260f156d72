-- A supervisor's decision on a pending request ($request_id, $status, $decided_at, $decided_by,
-- $decision_reason); returns the request as decided (nothing: not pending any more).
UPDATE requests
SET status = $status, decided_at = $decided_at, decided_by = $decided_by,
    decision_reason = $decision_reason
WHERE request_id = $request_id AND status = 'pending'
RETURNING request_id, unit, task_id, kind, new_date, status;
